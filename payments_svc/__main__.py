from common.service import run
from payments_svc.app import build
from payments_svc.settings import PaymentsSettings

if __name__ == "__main__":
    run("payments_svc", PaymentsSettings(), build)
