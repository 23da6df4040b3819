// node-http.js: HTTP servers (127.0.0.1 and [::1]) and their clients in one
// node process: plain requests, keep-alive, a localAddress of 127.0.0.2, and
// a second server on a port already taken (EADDRINUSE).
'use strict';
const http = require('http');
const crypto = require('crypto');
const body = crypto.createHash('sha256').update('bindguard').digest('hex').repeat(2048);
function server(host, port) {
	return new Promise((resolve, reject) => {
		const s = http.createServer((req, res) => {
			res.setHeader('content-type', 'text/plain');
			res.end(req.url === '/blob' ? body : 'hello ' + req.url + '\n');
		});
		s.once('error', reject);
		s.listen(port, host, () => resolve(s));
	});
}
function get(opts) {
	return new Promise((resolve) => {
		http.get(opts, (res) => {
			const local = res.socket.localAddress;
			const h = crypto.createHash('sha256');
			res.on('data', (d) => h.update(d));
			res.on('end', () => resolve(res.statusCode + ' ' + h.digest('hex').slice(0, 16) + ' ' + local));
		}).on('error', (e) => resolve('error ' + e.code));
	});
}
(async () => {
	const v4 = await server('127.0.0.1', 9300);
	const v6 = await server('::1', 9300);
	const agent = new http.Agent({keepAlive: true, maxSockets: 2});
	for (let i = 0; i < 3; i++) {
		console.log('v4', await get({host: '127.0.0.1', port: 9300, path: '/blob'}));
		console.log('v6', await get({host: '::1', port: 9300, path: '/x' + i}));
		console.log('keepalive', await get({host: '127.0.0.1', port: 9300, path: '/k' + i, agent}));
		console.log('local', await get({host: '127.0.0.1', port: 9300, path: '/l' + i, localAddress: '127.0.0.2', agent: false}));
	}
	try {
		await server('127.0.0.1', 9300);
		console.log('second server: listening');
	} catch (e) {
		console.log('second server:', e.code);
	}
	agent.destroy();
	v4.close();
	v6.close();
})();
