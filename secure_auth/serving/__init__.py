"""Serving the app with several worker processes: listening sockets, the worker processes
and the supervisor that starts, reloads, restarts and stops them.

Process management only: no web framework here. What runs inside each worker (uvicorn on
the socket it is handed) is secure_auth.web.worker.
"""
