#!/usr/bin/env python3
"""Starts a broker and measures the time until its AMQP port accepts connections.

usage: bench/startup.py PORT LOGFILE -- COMMAND...
Prints "PID MILLISECONDS" and leaves the broker running (in its own session).
"""
import socket
import subprocess
import sys
import time

port, log = int(sys.argv[1]), sys.argv[2]
cmd = sys.argv[sys.argv.index("--") + 1:]
started = time.monotonic()
with open(log, "ab") as out:
    proc = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)
deadline = started + 120
while time.monotonic() < deadline:
    if proc.poll() is not None:
        sys.exit(f"broker exited with {proc.returncode} before accepting connections")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
    except OSError:
        time.sleep(0.001)
else:
    sys.exit("broker did not accept connections within 120 s")
print(proc.pid, round((time.monotonic() - started) * 1000, 1))
