"""`python -m expiration_svc`."""

from common.service import run
from expiration_svc.app import ExpirationApp
from expiration_svc.settings import ExpirationSettings

if __name__ == "__main__":
    run("expiration_svc", ExpirationSettings(), ExpirationApp)
