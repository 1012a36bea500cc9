# A TCP server on 127.0.0.1:PORT that counts its clients: each connection
# gets "client N" and is closed; a client sending "quit" ends the server.
# It sets SO_REUSEADDR, as servers do (socketserver, http.server): the
# connections it closed stay in TIME_WAIT on its port for a minute, and
# without it the restore's bind fails ("Address already in use").
# Usage: python3 counter-server.py PORT
import socket, sys

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("listening", flush=True)
n = 0
while True:
    c, _ = s.accept()
    n += 1
    line = c.makefile().readline().strip()
    c.sendall(f"client {n}\n".encode())
    c.close()
    print(f"served client {n}: {line}", flush=True)
    if line == "quit":
        break
print("done", flush=True)
