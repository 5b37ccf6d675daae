#!/usr/bin/env python3
"""The host end of a VM guest's zl.ctl channel, for tests/vm/guest-smoke.sh:
connects to QEMU's chardev socket, prints every frame (backends/vm/vm-proto.h)
with the time since T0, and drives the guest:

  guest-reader.py SOCK T0 [--exec 'ARG ...']... [--signal N]

After READY it sends each --exec as EXEC frames (ids 1, 2, ...); once every
exec has sent EXEC_EXIT (at once when there are none) it sends SIGNAL N.
On EXIT or FAIL it closes the socket (the guest's cue to power off) and exits
0 (EXIT) or 1 (FAIL or the channel closed first)."""
import shlex
import socket
import struct
import sys
import time

NAMES = {1: "READY", 2: "STDOUT", 3: "STDERR", 4: "EXIT", 5: "FAIL",
         6: "EXEC_OUT", 7: "EXEC_EXIT"}
SIGNAL, EXEC = 16, 17


def frame(kind, payload):
    return struct.pack("<BI", kind, len(payload)) + payload


def main():
    args = sys.argv[1:]
    sock_path, t0 = args[0], float(args[1])
    execs, signo = [], None
    i = 2
    while i < len(args):
        if args[i] == "--exec":
            execs.append(shlex.split(args[i + 1]))
        elif args[i] == "--signal":
            signo = int(args[i + 1])
        else:
            sys.exit("usage: guest-reader.py SOCK T0 [--exec CMD]... [--signal N]")
        i += 2

    s = socket.socket(socket.AF_UNIX)
    for _ in range(600):  # QEMU makes the socket, then waits for us
        try:
            s.connect(sock_path)
            break
        except OSError:
            time.sleep(0.05)
    else:
        sys.exit("guest-reader: cannot connect to " + sock_path)

    def say(what):
        print("%7.3f s  %s" % (time.time() - t0, what), flush=True)

    buf, pending = b"", set()
    while True:
        data = s.recv(65536)
        if not data:
            say("channel closed before EXIT")
            return 1
        buf += data
        while len(buf) >= 5:
            kind, n = struct.unpack("<BI", buf[:5])
            if len(buf) < 5 + n:
                break
            p, buf = buf[5:5 + n], buf[5 + n:]
            name = NAMES.get(kind, "type %d" % kind)
            if kind in (6, 7):
                eid = struct.unpack("<I", p[:4])[0]
                if kind == 6:
                    say("%s %d %s %r" % (name, eid, "out" if p[4] == 1 else "err", p[5:].decode(errors="replace")))
                else:
                    say("%s %d %r" % (name, eid, p[4:].decode()))
                    pending.discard(eid)
                    if not pending and signo is not None and execs:
                        s.sendall(frame(SIGNAL, str(signo).encode()))
                        say("sent SIGNAL %d" % signo)
                        signo = None
            else:
                say("%s %r" % (name, p.decode(errors="replace")))
            if kind == 1:
                for k, argv in enumerate(execs, 1):
                    s.sendall(frame(EXEC, struct.pack("<I", k) + b"\0".join(a.encode() for a in argv) + b"\0"))
                    say("sent EXEC %d %s" % (k, argv))
                    pending.add(k)
                if not execs and signo is not None:
                    time.sleep(0.5)
                    s.sendall(frame(SIGNAL, str(signo).encode()))
                    say("sent SIGNAL %d" % signo)
                    signo = None
            if kind in (4, 5):
                s.close()
                return 0 if kind == 4 else 1


if __name__ == "__main__":
    sys.exit(main())
