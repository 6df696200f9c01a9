package runtimes

import "testing"

// pythonCases are python3 -c programs; their output must not depend on pids,
// times or the host.
var pythonCases = []struct{ name, code string }{
	{"json", `
import json
d = {"a": [1, 2.5, None, True], "b": {"c": "\u00e9"}}
s = json.dumps(d, sort_keys=True)
print(s)
assert json.loads(s) == d
`},
	{"hashlib", `
import hashlib
for n in ("md5", "sha1", "sha256", "sha512", "sha3_256", "blake2b"):
    print(n, hashlib.new(n, b"buffer zone" * 1000).hexdigest())
`},
	{"subprocess", `
import subprocess, sys
r = subprocess.run([sys.executable, "-c", "import sys; print('child', sys.argv[1:]); sys.exit(3)", "x"],
                   capture_output=True, text=True)
print(r.returncode, r.stdout.strip())
p = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
print(p.communicate(b"piped")[0].decode(), p.returncode)
`},
	{"threading", `
import threading, queue
lock = threading.Lock()
count = 0
q = queue.Queue()
def work(i):
    global count
    for _ in range(10000):
        with lock:
            count += 1
    q.put(i)
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print(count, sorted(q.get() for _ in range(8)))
c = threading.Condition()
done = []
def waiter():
    with c:
        c.wait_for(lambda: done)
        print("woken", done)
w = threading.Thread(target=waiter); w.start()
with c:
    done.append(1); c.notify_all()
w.join()
`},
	{"socketpair", `
import socket
a, b = socket.socketpair()
a.sendall(b"x" * 100000)
a.shutdown(socket.SHUT_WR)
got = b""
while True:
    chunk = b.recv(65536)
    if not chunk: break
    got += chunk
print(len(got))
d1, d2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
d1.send(b"one"); d1.send(b"two")
print(d2.recv(10), d2.recv(10))
`},
	{"tcp-loopback", `
import socket, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(1)
def serve():
    c, _ = srv.accept()
    data = c.recv(100)
    c.sendall(data[::-1]); c.close()
t = threading.Thread(target=serve); t.start()
cl = socket.create_connection(srv.getsockname())
cl.sendall(b"hello"); print(cl.recv(100)); cl.close(); t.join()
`},
	{"tempfile", `
import tempfile, os, shutil
with tempfile.NamedTemporaryFile("w+", delete=False) as f:
    f.write("line\n" * 1000); name = f.name
with open(name) as f: print(len(f.read().splitlines()))
d = tempfile.mkdtemp()
shutil.copy(name, os.path.join(d, "copy"))
print(sorted(os.listdir(d)), os.path.getsize(os.path.join(d, "copy")))
os.rename(os.path.join(d, "copy"), os.path.join(d, "moved"))
shutil.rmtree(d); os.unlink(name)
print(os.path.exists(d))
`},
	{"os-misc", `
import os, signal, time
print(os.getuid(), os.getgid(), os.getcwd())
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r); os.write(w, b"from child"); os._exit(5)
os.close(w)
print(os.read(r, 100), os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
os.kill(os.getpid(), signal.SIGUSR1)
print(got == [signal.SIGUSR1])
t0 = time.monotonic(); time.sleep(0.05); print(time.monotonic() - t0 >= 0.05)
`},
	{"multiprocessing", `
import multiprocessing
with multiprocessing.Pool(2) as p:
    print(p.map(abs, [-1, -2, 3]))
`},
	// Postgres 15 waits for its latches in epoll on a signalfd for SIGURG.
	{"signalfd-wakeup", `
import ctypes, os, select, signal
libc = ctypes.CDLL(None, use_errno=True)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGURG})
mask = (ctypes.c_ulong * 16)(1 << (signal.SIGURG - 1))
sfd = libc.signalfd(-1, ctypes.byref(mask), os.O_NONBLOCK | os.O_CLOEXEC)
assert sfd >= 0, ctypes.get_errno()
ep = select.epoll(); ep.register(sfd, select.EPOLLIN)
pl = select.poll(); pl.register(sfd, select.POLLIN)
r, w = os.pipe()
parent = os.getpid()
pid = os.fork()
if pid == 0:
    os.close(w)
    while os.read(r, 1):
        os.kill(parent, signal.SIGURG)
    os._exit(0)
for name, wait in (("epoll", lambda: ep.poll(1)), ("poll", lambda: pl.poll(1000)),
                   ("select", lambda: select.select([sfd], [], [], 1)[0])):
    os.write(w, b"x")  # the child signals us while we wait
    print(name, "woken" if wait() else "timed out")
    try: os.read(sfd, 128)
    except BlockingIOError: pass
os.close(w); os.waitpid(pid, 0)
`},
	// libcap-ng (linked into Postgres through PAM and audit) probes this.
	{"prctl-capbset-read", `
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
PR_CAPBSET_READ = 23
print([libc.prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0 for c in (0, 1, 21, 40)])
print(libc.prctl(PR_CAPBSET_READ, 64, 0, 0, 0), ctypes.get_errno())
`},
	// An event-driven server and its clients in one event loop (epoll
	// underneath), and a subprocess that the loop reaps (through a pidfd
	// where Python has one).
	{"asyncio", `
import asyncio, sys
async def handle(reader, writer):
    while line := await reader.readline():
        writer.write(line.upper()); await writer.drain()
    writer.close(); await writer.wait_closed()
async def client(port, i):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    out = []
    for j in range(5):
        w.write(f"c{i} m{j}\n".encode()); await w.drain()
        out.append((await r.readline()).decode().strip())
    w.close(); await w.wait_closed()
    return out
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    async with srv:
        res = await asyncio.gather(*(client(port, i) for i in range(20)))
    print(len(res), res[0], res[-1])
    assert all(res[i] == [f"C{i} M{j}" for j in range(5)] for i in range(20))
    p = await asyncio.create_subprocess_exec(sys.executable, "-c", "print('sub'); exit(3)",
                                             stdout=asyncio.subprocess.PIPE)
    out, _ = await p.communicate()
    print(out, p.returncode)
asyncio.run(main())
`},
	{"select-poll", `
import os, select
r, w = os.pipe()
p = select.poll(); p.register(r, select.POLLIN)
print(p.poll(0))
os.write(w, b"x")
print(p.poll(1000))
e = select.epoll(); e.register(r, select.EPOLLIN)
print(e.poll(1))
`},
}

// TestPython runs python3 programs from images/python natively and in the
// sandbox and compares them.
func TestPython(t *testing.T) {
	img := RequireImage(t, "python")
	for _, p := range platforms() {
		t.Run(p, func(t *testing.T) {
			for _, c := range pythonCases {
				t.Run(c.name, func(t *testing.T) {
					Compare(t, "python/"+c.name, p, Run{Image: img, Argv: []string{"/usr/bin/python3", "-c", c.code}})
				})
			}
		})
	}
}
