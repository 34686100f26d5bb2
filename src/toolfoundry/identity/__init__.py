"""Identity: who signed what, checked offline with OpenSSH signatures, and the provenance of each deployed tool.

``ssh.py`` runs ``ssh-keygen -Y sign`` / ``-Y verify`` (the mechanism of git's SSH commit signing) and
owns the ``allowed_signers`` format; ``approval.py`` is the exact message a reviewer signs;
``provenance.py`` builds, signs (a DSSE envelope around an in-toto Statement v1) and checks a tool
version's provenance record. Pure data and subprocess calls: it reads no database, no forge and no
home of its own — callers hand it the bytes (an ``allowed_signers`` file read through the forge, a key path).
"""

from __future__ import annotations
