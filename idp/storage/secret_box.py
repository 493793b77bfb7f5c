"""Encryption at rest for small secrets (TOTP seeds), under TESSERA_KEY_ENCRYPTION_KEY.

The same key-encryption secret as the signing keys (idp.storage.keystore), derived for its own
purpose with HKDF, so a key for one use never decrypts the other's data.
"""

from __future__ import annotations

from cryptography.fernet import InvalidToken

from idp.storage.keystore import fernet_from


class SecretUnreadable(RuntimeError):
    pass


class FernetSecretBox:
    def __init__(self, encryption_secret: str, purpose: str) -> None:
        self._fernet = fernet_from(encryption_secret, purpose)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "a stored second-factor secret cannot be decrypted: TESSERA_KEY_ENCRYPTION_KEY "
                "(or TESSERA_SECRET_KEY, from which it defaults) changed"
            ) from None
