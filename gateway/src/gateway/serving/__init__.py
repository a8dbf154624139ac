"""How gateway processes come and go without failing a request: the gunicorn worker class and
the master's side of it.

A worker leaves on ``SIGTERM`` (stop, ``SIGHUP`` reload) or after ``max_requests``. It then stops
accepting connections, lets every request in flight finish, answers any further request on a
kept-alive connection with ``Connection: close``, and closes no idle connection before it has been
idle for the keep-alive timeout, i.e. after the client (nginx) gave it up itself: no request a
client sent is ever lost on a connection closed under it (:mod:`gateway.serving.protocol`,
:mod:`gateway.serving.worker`). A worker that leaves on its own tells the master, which starts its
replacement at once rather than after the drain (:mod:`gateway.serving.arbiter`).

A new gateway container takes over from the old one through the Unix socket nginx connects to
(:mod:`gateway.serving.handoff`, ``make upgrade``): new connections go to the new container while
the old one drains as above.

Imports gunicorn and uvicorn only: nothing of the app.
"""
