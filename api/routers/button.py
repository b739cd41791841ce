from fastapi import APIRouter

from api.deps import DaemonDep
from api.schemas import ButtonIn, ButtonOut
from device.button import Press

router = APIRouter(tags=["button"])


@router.post("/button", response_model=ButtonOut)
def press_button(daemon: DaemonDep, body: ButtonIn | None = None) -> ButtonOut:
    """Exactly what the hardware button does: a short press starts or stops a scan (or
    acknowledges an error); a long press stops any scan and shuts the device down."""
    action = daemon.press(Press((body or ButtonIn()).press))
    return ButtonOut(action=action, state=daemon.sm.state.value)
