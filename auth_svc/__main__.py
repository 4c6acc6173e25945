"""`python -m auth_svc`."""

from auth_svc.app import AuthApp
from auth_svc.settings import AuthSettings
from common.service import run

if __name__ == "__main__":
    run("auth_svc", AuthSettings(), AuthApp)
