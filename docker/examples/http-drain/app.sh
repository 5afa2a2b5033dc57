#!/bin/sh
# The example app: busybox httpd on 127.0.0.1:8080, which works even with
# --network none. /healthz is a file; /cgi-bin/drain is the PreStop target.
stop() {
  echo "app: got $1, stopping the web server"
  kill "$httpd" 2>/dev/null
  wait "$httpd" 2>/dev/null
  exit 0
}
trap 'stop TERM' TERM
trap 'stop INT' INT
trap 'stop QUIT' QUIT
httpd -f -p 127.0.0.1:8080 -h /www &
httpd=$!
echo "app: serving http://127.0.0.1:8080/ (httpd pid $httpd)"
# 2>/dev/null: no "Terminated" notice when httpd gets the stop signal too.
wait "$httpd" 2>/dev/null
