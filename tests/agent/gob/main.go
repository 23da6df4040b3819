// gob: B of the seed scenario as a Go program, which the shim cannot see
// (Go makes its own system calls): it binds ADDR:PORT with
// net.ListenConfig (listen) or net.Dialer{LocalAddr} (dial, then connects
// to DEST), prints "bound PID" / "connected PID" or "error ERRNO PID", and
// holds the socket until it is killed.
//
//	gob listen ADDR PORT
//	gob dial ADDR PORT DEST
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

var names = map[syscall.Errno]string{
	syscall.EADDRINUSE:    "EADDRINUSE",
	syscall.EPERM:         "EPERM",
	syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL",
	syscall.ECONNREFUSED:  "ECONNREFUSED",
	syscall.EACCES:        "EACCES",
}

func report(what string, err error) {
	if err == nil {
		fmt.Printf("%s %d\n", what, os.Getpid())
		time.Sleep(time.Hour)
		return
	}
	var en syscall.Errno
	name := "EUNKNOWN"
	if errors.As(err, &en) {
		name = names[en]
		if name == "" {
			name = "E" + strconv.Itoa(int(en))
		}
	}
	fmt.Printf("error %s %d (%v)\n", name, os.Getpid(), err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 4 || (os.Args[1] == "dial" && len(os.Args) < 5) {
		fmt.Fprintln(os.Stderr, "usage: gob listen ADDR PORT | gob dial ADDR PORT DEST")
		os.Exit(2)
	}
	addr := net.JoinHostPort(os.Args[2], os.Args[3])
	switch os.Args[1] {
	case "listen":
		var lc net.ListenConfig
		l, err := lc.Listen(context.Background(), "tcp", addr)
		report("bound", err)
		_ = l
	case "dial":
		port, _ := strconv.Atoi(os.Args[3])
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(os.Args[2]), Port: port}}
		c, err := d.Dial("tcp", os.Args[4])
		report("connected", err)
		_ = c
	default:
		fmt.Fprintln(os.Stderr, "gob: listen or dial")
		os.Exit(2)
	}
}
