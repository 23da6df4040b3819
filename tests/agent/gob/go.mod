module bindguard.invalid/gob

go 1.19
