// cgo-echo.go: a server and clients in one Go program built with cgo: Go's
// own net package (net.Listen, a net.Dialer with a LocalAddr), which makes
// raw syscalls, and a listener made by libc through cgo, served by Go.
package main

/*
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>
static int c_listener(int port) {
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}
*/
import "C"

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
)

func serve(l net.Listener, n int, done chan<- bool) {
	for i := 0; i < n; i++ {
		c, err := l.Accept()
		if err != nil {
			fmt.Println("accept:", err)
			break
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Fprintf(c, "echo %s", strings.ToUpper(line))
		c.Close()
	}
	done <- true
}

func ask(laddr string, raddr string, msg string) string {
	d := net.Dialer{}
	if laddr != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(laddr)}
	}
	c, err := d.Dial("tcp", raddr)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	src := c.LocalAddr().(*net.TCPAddr).IP.String()
	fmt.Fprintf(c, "%s\n", msg)
	r, _ := bufio.NewReader(c).ReadString('\n')
	return src + " " + strings.TrimSpace(r)
}

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:9100")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fd := C.c_listener(9101)
	if fd < 0 {
		fmt.Println("c listener failed")
		os.Exit(1)
	}
	cl, err := net.FileListener(os.NewFile(uintptr(fd), "c-listener"))
	if err != nil {
		fmt.Println("file listener:", err)
		os.Exit(1)
	}
	done := make(chan bool)
	go serve(l, 4, done)
	go serve(cl, 4, done)
	for i := 0; i < 2; i++ {
		fmt.Println("go", ask("", "127.0.0.1:9100", fmt.Sprint("plain", i)))
		fmt.Println("go", ask("127.0.0.2", "127.0.0.1:9100", fmt.Sprint("local-addr", i)))
		fmt.Println("cgo", ask("", "127.0.0.1:9101", fmt.Sprint("plain", i)))
		fmt.Println("cgo", ask("127.0.0.2", "127.0.0.1:9101", fmt.Sprint("local-addr", i)))
	}
	<-done
	<-done
	// 9100 is Go's, bound by a raw syscall the shim never sees
	fmt.Println("cgo listener on Go's port 9100 refused:", C.c_listener(9100) < 0)
}
