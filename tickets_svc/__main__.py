"""`python -m tickets_svc`."""

from common.service import run
from tickets_svc.app import TicketsApp
from tickets_svc.settings import TicketsSettings

if __name__ == "__main__":
    run("tickets_svc", TicketsSettings(), TicketsApp)
