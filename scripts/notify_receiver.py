"""A webhook receiver for the notification benchmark: it answers every
POST with 200 after DELAY seconds (0: at once), many at a time.

    python3 scripts/notify_receiver.py PORT DELAY
"""
import http.server
import sys
import time


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        time.sleep(float(sys.argv[2]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # The default backlog (5) drops the connections of a burst of
    # deliveries, and the sender's SYN retries then dominate.
    request_queue_size = 1024
    daemon_threads = True


Server(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
