"""A real gRPC server (grpcio, grpcio-health-checking) for tests/grpc.rs.

Usage: grpc_health_server.py MODE [PORT]

MODE:
  serving          the health service: overall SERVING, "ok.Service" SERVING,
                   "down.Service" NOT_SERVING
  not-serving      the health service: overall NOT_SERVING
  unknown-service  the health service knowing only the overall status, so that
                   any named service is NOT_FOUND
  no-health        a gRPC server without the health service (UNIMPLEMENTED)

Listens on 127.0.0.1:PORT (a free port when PORT is 0 or absent), prints the
port on a line, and serves until its stdin closes (the test ended) or it is
killed.
"""

import sys
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def main():
    mode = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    if mode != "no-health":
        servicer = health.HealthServicer()
        if mode == "serving":
            servicer.set("", SERVING)
            servicer.set("ok.Service", SERVING)
            servicer.set("down.Service", NOT_SERVING)
        elif mode == "not-serving":
            servicer.set("", NOT_SERVING)
        elif mode != "unknown-service":
            sys.exit(f"unknown mode {mode!r}")
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(grace=None)


if __name__ == "__main__":
    main()
