/* version.h: one version for the shim and the command. */
#ifndef BG_VERSION_H
#define BG_VERSION_H
#define BG_VERSION "0.1.0"
#endif
