from auth_svc.app import build
from auth_svc.settings import AuthSettings
from common.service import run

if __name__ == "__main__":
    run("auth_svc", AuthSettings(), build)
