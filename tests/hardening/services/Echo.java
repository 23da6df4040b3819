// Echo.java: a server (a thread a listener) and its clients in one JVM, over
// java.net (IPv6 sockets, IPv4 v4-mapped) and NIO channels.
import java.io.*;
import java.net.*;
import java.nio.ByteBuffer;
import java.nio.channels.*;
import java.nio.charset.StandardCharsets;

public class Echo {
	static void serve(ServerSocket ss, int n) {
		new Thread(() -> {
			try {
				for (int i = 0; i < n; i++) {
					try (Socket c = ss.accept()) {
						BufferedReader in = new BufferedReader(new InputStreamReader(c.getInputStream()));
						String line = in.readLine();
						c.getOutputStream().write(("echo " + line.toUpperCase() + "\n").getBytes());
					}
				}
			} catch (IOException e) {
				System.out.println("serve: " + e);
			}
		}).start();
	}

	static String ask(String local, String host, int port, String msg) throws IOException {
		try (Socket s = new Socket()) {
			if (local != null)
				s.bind(new InetSocketAddress(local, 0));
			s.connect(new InetSocketAddress(host, port));
			s.getOutputStream().write((msg + "\n").getBytes());
			String r = new BufferedReader(new InputStreamReader(s.getInputStream())).readLine();
			return s.getLocalAddress().getHostAddress() + " " + r;
		}
	}

	static String askNio(String host, int port, String msg) throws IOException {
		try (SocketChannel ch = SocketChannel.open(new InetSocketAddress(host, port))) {
			ch.write(ByteBuffer.wrap((msg + "\n").getBytes(StandardCharsets.US_ASCII)));
			ByteBuffer b = ByteBuffer.allocate(256);
			while (ch.read(b) > 0 && b.get(b.position() - 1) != '\n')
				;
			return new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).trim();
		}
	}

	public static void main(String[] args) throws Exception {
		ServerSocket v4 = new ServerSocket(9200, 16, InetAddress.getByName("127.0.0.1"));
		ServerSocket v6 = new ServerSocket(9201, 16, InetAddress.getByName("::1"));
		ServerSocketChannel nio = ServerSocketChannel.open();
		nio.setOption(StandardSocketOptions.SO_REUSEADDR, true);
		nio.bind(new InetSocketAddress("127.0.0.1", 9202));
		serve(v4, 4);
		serve(v6, 2);
		serve(nio.socket(), 2);
		for (int i = 0; i < 2; i++) {
			System.out.println("v4 " + ask(null, "127.0.0.1", 9200, "plain" + i));
			System.out.println("v4 " + ask("127.0.0.2", "127.0.0.1", 9200, "local" + i));
			System.out.println("v6 " + ask(null, "::1", 9201, "plain" + i));
			System.out.println("nio " + askNio("127.0.0.1", 9202, "nio" + i));
		}
		try {
			new ServerSocket(9200, 16, InetAddress.getByName("127.0.0.1"));
			System.out.println("second listener on 9200: bound");
		} catch (BindException e) {
			System.out.println("second listener on 9200: " + e.getMessage());
		}
		System.exit(0);
	}
}
