"""`python -m payments_svc`."""

from common.service import run
from payments_svc.app import PaymentsApp
from payments_svc.settings import PaymentsSettings

if __name__ == "__main__":
    run("payments_svc", PaymentsSettings(), PaymentsApp)
