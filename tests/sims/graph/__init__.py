"""A local Microsoft Graph simulator for the Graph connector's tests (see server.py)."""

from tests.sims.graph.certs import AppCertificate, app_certificate, tls_files
from tests.sims.graph.server import GraphSimulator, LogEntry
from tests.sims.graph.state import GraphError, GraphState

__all__ = [
    "AppCertificate",
    "GraphError",
    "GraphSimulator",
    "GraphState",
    "LogEntry",
    "app_certificate",
    "tls_files",
]
