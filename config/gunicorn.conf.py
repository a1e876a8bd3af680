"""gunicorn's settings for the web process (admin and POS API).

    .venv/bin/gunicorn -c config/gunicorn.conf.py -w 4 -b 127.0.0.1:8000

Options given on the command line override the ones here. What this file adds to gunicorn's
defaults is about one promise of the POS API: every answer under ``/api/`` is a problem
document (``processing/api/problems.py``), even for a request gunicorn refuses itself.
"""

wsgi_app = "config.wsgi:application"

# The API documents its own URL limit (settings.API_MAX_URL_BYTES, 4096 bytes) and answers a
# longer URL with a 414 problem. gunicorn's default limit on the request line (4094 bytes,
# method and version included) would refuse such a request first; its maximum lets every
# request line up to 8190 bytes reach Django.
limit_request_line = 8190


def post_worker_init(worker):
    """What gunicorn still refuses before Django (a request line over 8190 bytes, headers over
    its limits, a malformed request) is answered as a problem instead of its HTML page.

    gunicorn has no setting for its error page: its workers write it through
    ``gunicorn.util.write_error``, which is replaced here, in the worker, once the application
    (and so Django) is loaded. tests/processing/api/test_gunicorn.py checks it against the real server.
    """
    from gunicorn import util

    from processing.api.transport import gunicorn_write_error

    util.write_error = gunicorn_write_error
