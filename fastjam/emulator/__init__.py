"""The neural emulator of JAM: torch network, training, evaluation and the JAX port.

torch is imported only when an emulator is built or trained.
"""


def __getattr__(name):
    if name == "Emulator":
        from .model import Emulator

        return Emulator
    raise AttributeError(name)


__all__ = ["Emulator"]
