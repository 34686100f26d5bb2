"""The review UI (``toolfoundry ui``): FastAPI + Jinja2 + htmx, server-rendered, no JS build.

Needs the ``ui`` extra (fastapi, jinja2, uvicorn). ``create_app(settings)`` builds the app;
``serve(settings)`` runs it on 127.0.0.1.
"""
