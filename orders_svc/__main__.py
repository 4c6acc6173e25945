"""`python -m orders_svc`."""

from common.service import run
from orders_svc.app import OrdersApp
from orders_svc.settings import OrdersSettings

if __name__ == "__main__":
    run("orders_svc", OrdersSettings(), OrdersApp)
