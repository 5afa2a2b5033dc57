#!/bin/sh
# The example app: a long-running shell "server". It shuts down cleanly on
# TERM, INT or QUIT and "reloads" on USR1. Idle, it sleeps in `wait`, which a
# trapped signal interrupts at once (the signal also ends the `sleep`: hookinit
# signals the app's whole process group; 2>/dev/null hides the shell's
# "Terminated" notice about it).
stop() {
  echo "app: got $1, shutting down"
  exit 0
}
trap 'stop TERM' TERM
trap 'stop INT' INT
trap 'stop QUIT' QUIT
trap 'echo "app: got USR1, reloading"' USR1
echo "app: serving (pid $$)"
while :; do
  sleep 86400 &
  wait $! 2>/dev/null
done
