"""The bounds of ``digitgan serve`` in one place, cheap to import: the CLI shows them in
``digitgan serve --help``, serving/app.py and serving/http_guards.py enforce them."""

MAX_DIGITS_PER_REQUEST = 256  # a 16 x 16 grid
MAX_WALK_STEPS = 32
MAX_HEAD_BYTES = 16 * 1024  # request line + headers
HEAD_TIMEOUT = 5.0  # seconds a connection may take to send a whole request head
DRAIN_BYTES = 64 * 1024 * 1024  # read and dropped after a 414/431, so the client sees it
DRAIN_SECONDS = 5.0
LOG_EVERY = 10.0  # seconds between two warnings about refused requests
DEFAULT_IN_FLIGHT = 64  # --limit-concurrency: requests in flight
DEFAULT_CONNECTIONS = 256  # --max-connections: open connections
