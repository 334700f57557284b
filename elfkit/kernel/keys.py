"""security/keys: the kernel's key retention service, as an in-guest key store.

Keys of type "user" (a payload of 1..32767 bytes) and "keyring" (a list of links
to keys) live in the Kernel's key table, never in the host's. Each process has
the special keyrings the kernel gives it: a thread and a process keyring (made
on demand, dropped by exec, not inherited by fork), a session keyring (kept in
the credentials, so fork shares it and KEYCTL_JOIN_SESSION_KEYRING replaces it
for the caller only) and, per user, _uid.UID and _uid_ses.UID (the session keyring
of a process that has none). A key reachable from the caller's own keyrings is
"possessed" and gets the possessor permission bits, as key_task_permission does.
Quotas: 200 keys / 20000 bytes per user (1000000 / 25000000 for uid 0).

Not modelled: other key types (logon, big_key, asymmetric...: ENODEV), request_key
upcalls (no /sbin/request-key: a key not found is ENOKEY), keyring restrictions,
persistent keyrings, key notifications, KEYCTL_SESSION_TO_PARENT, Diffie-Hellman
and public-key operations, garbage collection of unreferenced keys.
"""
from __future__ import annotations

import errno
import struct
import time

KEY_SPEC_THREAD, KEY_SPEC_PROCESS, KEY_SPEC_SESSION = -1, -2, -3
KEY_SPEC_USER, KEY_SPEC_USER_SESSION, KEY_SPEC_GROUP = -4, -5, -6
KEY_SPEC_REQKEY_AUTH, KEY_SPEC_REQUESTOR = -7, -8
VIEW, READ, WRITE, SEARCH, LINK, SETATTR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
KEY_POS_ALL, KEY_USR_ALL = 0x3F000000, 0x003F0000
PERM_MASK = 0x3F3F3F3F
KEY_MAX_DESC = 4096


class Key:
    def __init__(self, serial, ktype, desc, uid, gid, perm, payload=b""):
        self.serial, self.type, self.desc = serial, ktype, desc
        self.uid, self.gid, self.perm = uid, gid, perm
        self.payload = payload                   # bytes (user) or list of Keys (keyring)
        self.revoked = self.invalidated = False
        self.expiry: float | None = None

    @property
    def is_keyring(self) -> bool:
        return self.type == "keyring"

    def validity(self) -> int:
        """key_validate: 0, or why the key cannot be used."""
        if self.invalidated:
            return -errno.ENOKEY
        if self.revoked:
            return -errno.EKEYREVOKED
        if self.expiry is not None and time.monotonic() >= self.expiry:
            return -errno.EKEYEXPIRED
        return 0

    def quota_len(self) -> int:
        return len(self.desc) + 1 + (len(self.payload) if isinstance(self.payload, bytes) else 0)


class KeyTable:
    def __init__(self, kernel):
        self.kernel = kernel
        self.keys: dict[int, Key] = {}
        self.next_serial = 0x1A2B3C4
        self.sessions: dict[int, tuple] = {}     # id(cred) -> (cred, session keyring)
        self.task_rings: dict = {}               # task -> {"thread"/"process": Key, "image": ...}
        self.user_rings: dict[int, tuple[Key, Key]] = {}

    # --- keys and quotas ---------------------------------------------------------------------
    def _alloc(self, p, ktype, desc, perm, payload) -> Key | int:
        uid = p.creds.euid
        mine = [k for k in self.keys.values() if k.uid == uid and not k.invalidated]
        maxkeys, maxbytes = (1000000, 25000000) if uid == 0 else (200, 20000)
        qlen = len(desc) + 1 + (len(payload) if isinstance(payload, bytes) else 0)
        if len(mine) + 1 > maxkeys or sum(k.quota_len() for k in mine) + qlen > maxbytes:
            return -errno.EDQUOT
        self.next_serial += 0x1F3
        k = Key(self.next_serial & 0x7FFFFFFF, ktype, desc, uid, p.creds.egid, perm, payload)
        self.keys[k.serial] = k
        return k

    def _keyring(self, p, desc, perm) -> Key:
        k = self._alloc(p, "keyring", desc, perm, [])
        if isinstance(k, int):                  # (the special keyrings are not charged)
            self.next_serial += 0x1F3
            k = Key(self.next_serial & 0x7FFFFFFF, "keyring", desc, p.creds.euid, p.creds.egid,
                    perm, [])
            self.keys[k.serial] = k
        return k

    def gc(self):
        """A key no keyring links and no process holds has no reference left: it is gone (the
        kernel's key_lookup no longer finds a key whose usage dropped to zero)."""
        roots = [s[1] for s in self.sessions.values()]
        for r in self.task_rings.values():
            roots += [r[n] for n in ("thread", "process", "session") if n in r]
        for user, ses in self.user_rings.values():
            roots += [user, ses]
        live, todo = set(), roots
        while todo:
            k = todo.pop()
            if k.serial in live:
                continue
            live.add(k.serial)
            if k.is_keyring:
                todo.extend(k.payload)
        for serial in [s for s in self.keys if s not in live]:
            del self.keys[serial]

    # --- the caller's keyrings ---------------------------------------------------------------
    def _user(self, p) -> tuple[Key, Key]:
        uid = p.creds.uid
        if uid not in self.user_rings:
            user = self._keyring(p, f"_uid.{uid}", KEY_POS_ALL | VIEW << 16 | READ << 16 |
                                 SEARCH << 16 | LINK << 16 | WRITE << 16 | SETATTR << 16)
            ses = self._keyring(p, f"_uid_ses.{uid}", KEY_POS_ALL | KEY_USR_ALL)
            ses.payload.append(user)
            self.user_rings[uid] = (user, ses)
        return self.user_rings[uid]

    def _rings(self, p) -> dict:
        r = self.task_rings.get(p)
        if r is None or r.get("image") is not p.image:    # exec drops thread and process rings
            r = self.task_rings[p] = {"image": p.image}
        return r

    def session(self, p) -> Key | None:
        s = self.sessions.get(id(p.creds))
        if s is not None and s[0] is p.creds:
            return s[1]
        last = self._rings(p).get("session")          # creds replaced by set*id: keep it
        return last

    def _set_session(self, p, ring: Key):
        from dataclasses import replace
        p.creds = replace(p.creds)                    # prepare_creds + commit_creds
        self.sessions[id(p.creds)] = (p.creds, ring)
        self._rings(p)["session"] = ring

    def special(self, p, ident: int, create: bool) -> Key | int:
        r = self._rings(p)
        if ident in (KEY_SPEC_THREAD, KEY_SPEC_PROCESS):
            name = "thread" if ident == KEY_SPEC_THREAD else "process"
            if name not in r:
                if not create:
                    return -errno.ENOKEY
                r[name] = self._keyring(p, "_tid" if name == "thread" else "_pid",
                                        KEY_POS_ALL | VIEW << 16)
            return r[name]
        if ident == KEY_SPEC_SESSION:
            s = self.session(p)
            if s is None:
                return self._user(p)[1]
            return s
        if ident == KEY_SPEC_USER:
            return self._user(p)[0]
        if ident == KEY_SPEC_USER_SESSION:
            return self._user(p)[1]
        if ident in (KEY_SPEC_REQKEY_AUTH, KEY_SPEC_REQUESTOR):
            return -errno.ENOKEY
        return -errno.EINVAL

    def _own_rings(self, p) -> list[Key]:
        r = self._rings(p)
        out = [r[n] for n in ("thread", "process") if n in r]
        s = self.session(p)
        out.append(s if s is not None else self._user(p)[1])
        return out

    def possessed(self, p, key: Key) -> bool:
        """Reachable from the caller's thread, process or session keyring through keyrings it
        may search (search_process_keyrings)."""
        seen, todo = set(), list(self._own_rings(p))
        while todo:
            k = todo.pop()
            if k is key:
                return True
            if k.serial in seen or not k.is_keyring or k.validity():
                continue
            seen.add(k.serial)
            todo.extend(x for x in k.payload if self._perm_ok(p, x, SEARCH, True))
        return False

    def _perm_ok(self, p, key: Key, need: int, possessed: bool) -> bool:
        c = p.creds
        if key.uid == c.fsuid if hasattr(c, "fsuid") else key.uid == c.euid:
            kperm = key.perm >> 16
        elif key.gid in (getattr(c, "fsgid", c.egid), *getattr(c, "groups", ())):
            kperm = key.perm >> 8
        else:
            kperm = key.perm
        if possessed:
            kperm |= key.perm >> 24
        return (kperm & need & 0x3F) == need

    def lookup(self, p, ident: int, create: bool = False, need: int = 0, partial: bool = False,
               unlink: bool = False) -> Key | int:
        """lookup_user_key: the key, checked for validity (unless unlinking) and permission."""
        ident &= 0xFFFFFFFF                      # key_serial_t: an int
        ident = ident - (1 << 32) if ident & 0x80000000 else ident
        if ident < 0:
            key = self.special(p, ident, create)
            if isinstance(key, int):
                return key
            possessed = True
        elif ident == 0:
            return -errno.EINVAL
        else:
            key = self.keys.get(ident)
            if key is None:
                return -errno.ENOKEY
            possessed = self.possessed(p, key)
        if not unlink:
            err = key.validity()
            if err:
                return err
        if need and not self._perm_ok(p, key, need, possessed):
            return -errno.EACCES
        return key

    # --- linking -----------------------------------------------------------------------------
    @staticmethod
    def link(ring: Key, key: Key) -> int:
        if not ring.is_keyring:
            return -errno.ENOTDIR
        if key.is_keyring and _reaches(key, ring):
            return -errno.EDEADLK
        ring.payload[:] = [k for k in ring.payload if k is key or
                           (k.type, k.desc) != (key.type, key.desc)]
        if key not in ring.payload:
            ring.payload.append(key)
        return 0

    def find_in(self, p, ring: Key, ktype: str, desc: str):
        """keyring_search: a matching key reachable from ring, or -ENOKEY (-EKEYREVOKED/
        -EKEYEXPIRED when only such a key matched)."""
        skipped = -errno.ENOKEY
        seen, todo = set(), [ring]
        while todo:
            r = todo.pop(0)
            if r.serial in seen:
                continue
            seen.add(r.serial)
            for k in r.payload:
                if k.type == ktype and k.desc == desc:
                    err = k.validity()
                    if err:
                        skipped = err if err != -errno.ENOKEY else skipped
                        continue
                    if self._perm_ok(p, k, SEARCH, True):
                        return k
                if k.is_keyring and not k.validity() and self._perm_ok(p, k, SEARCH, True):
                    todo.append(k)
        return skipped


def _reaches(start: Key, target: Key) -> bool:
    seen, todo = set(), [start]
    while todo:
        k = todo.pop()
        if k is target:
            return True
        if k.serial in seen or not k.is_keyring:
            continue
        seen.add(k.serial)
        todo.extend(k.payload)
    return False


# --- the system calls ---------------------------------------------------------------------------

def _type(p, ptr):
    raw = p.mm.read_cstring(ptr, 32)
    if raw is None:
        return -errno.EFAULT if p.mm.read(ptr, 1) is None else -errno.EINVAL
    if not raw:
        return -errno.EINVAL
    if raw.startswith(b"."):
        return -errno.EPERM
    return raw.decode(errors="replace")


def _desc(p, ptr):
    raw = p.mm.read_cstring(ptr, KEY_MAX_DESC)
    if raw is None:
        return -errno.EFAULT if p.mm.read(ptr, 1) is None else -errno.EINVAL
    return raw.decode(errors="surrogateescape")


def _table(p) -> KeyTable:
    return p.kernel.ipc.keys


def sys_add_key(p, type_ptr, desc_ptr, payload_ptr, plen, ringid, *_):
    if plen > 1024 * 1024 - 1:
        return -errno.EINVAL
    ktype = _type(p, type_ptr)
    if isinstance(ktype, int):
        return ktype
    desc = None
    if desc_ptr:
        desc = _desc(p, desc_ptr)
        if isinstance(desc, int):
            return desc
        if not desc:
            desc = None
        elif desc.startswith(".") and ktype.startswith("keyring"):
            return -errno.EPERM
    payload = b""
    if plen:
        payload = p.mm.read(payload_ptr, plen)
        if payload is None:
            return -errno.EFAULT
    kt = _table(p)
    ring = kt.lookup(p, ringid, create=True, need=WRITE)
    if isinstance(ring, int):
        return ring
    if ktype not in ("user", "keyring"):
        return -errno.ENODEV
    if not ring.is_keyring:
        return -errno.ENOTDIR
    if ktype == "user" and (not 0 < len(payload) <= 32767 or not payload_ptr):
        return -errno.EINVAL
    if ktype == "keyring" and plen:
        return -errno.EINVAL
    if desc is None:
        return -errno.EINVAL
    if ktype == "user":
        old = next((k for k in ring.payload if (k.type, k.desc) == (ktype, desc)), None)
        if old is not None and not old.validity():
            if kt._perm_ok(p, old, WRITE, kt.possessed(p, old)):
                old.payload = payload            # key_create_or_update: an update
                return old.serial
    perm = KEY_POS_ALL | VIEW << 16
    key = kt._alloc(p, ktype, desc, perm, payload if ktype == "user" else [])
    if isinstance(key, int):
        return key
    kt.link(ring, key)
    return key.serial


def sys_request_key(p, type_ptr, desc_ptr, callout_ptr, destringid, *_):
    ktype = _type(p, type_ptr)
    if isinstance(ktype, int):
        return ktype
    desc = _desc(p, desc_ptr)
    if isinstance(desc, int):
        return desc
    if callout_ptr and p.mm.read_cstring(callout_ptr, 1024 * 1024) is None:
        return -errno.EFAULT
    kt = _table(p)
    dest = None
    if destringid:
        dest = kt.lookup(p, destringid, create=True, need=WRITE)
        if isinstance(dest, int):
            return dest
    if ktype not in ("user", "keyring"):
        return -errno.ENOKEY
    result = -errno.ENOKEY
    for ring in kt._own_rings(p):
        found = kt.find_in(p, ring, ktype, desc)
        if not isinstance(found, int):
            if dest is not None:
                kt.link(dest, found)
            return found.serial
        if found != -errno.ENOKEY:
            result = found
    if callout_ptr:
        p.warn_once("request_key-upcall", "request_key: no /sbin/request-key upcall in the "
                                          "guest: a key not found is -ENOKEY")
    return result


KEYCTL = {}


def _op(n):
    def deco(f):
        KEYCTL[n] = f
        return f
    return deco


@_op(0)
def _get_keyring_id(p, kt, ident, create, *_):
    key = kt.lookup(p, ident, create=bool(create), need=SEARCH)
    return key if isinstance(key, int) else key.serial


@_op(1)
def _join_session(p, kt, name_ptr, *_):
    name = None
    if name_ptr:
        name = _desc(p, name_ptr)
        if isinstance(name, int):
            return name
    ring = None
    if name is not None:
        ring = next((k for k in kt.keys.values() if k.is_keyring and k.desc == name and
                     not k.validity() and k.uid == p.creds.euid), None)
        if ring is not None and not kt._perm_ok(p, ring, LINK, False):
            return -errno.EACCES
    if ring is None:
        ring = kt._alloc(p, "keyring", name or "_ses", KEY_POS_ALL | (VIEW | READ) << 16, [])
        if isinstance(ring, int):
            return ring
    kt._set_session(p, ring)
    kt.gc()
    return ring.serial


@_op(2)
def _update(p, kt, ident, payload_ptr, plen, *_):
    if plen > 4096:
        return -errno.EINVAL
    payload = p.mm.read(payload_ptr, plen) if plen else b""
    if payload is None:
        return -errno.EFAULT
    key = kt.lookup(p, ident, need=WRITE)
    if isinstance(key, int):
        return key
    if key.is_keyring:
        return -errno.EOPNOTSUPP
    if not 0 < len(payload) <= 32767:
        return -errno.EINVAL
    key.payload = payload
    return 0


@_op(3)
def _revoke(p, kt, ident, *_):
    key = kt.lookup(p, ident, need=WRITE)
    if key == -errno.EACCES:
        key = kt.lookup(p, ident, need=SETATTR)
    if isinstance(key, int):
        return key
    key.revoked = True
    return 0


@_op(4)
def _chown(p, kt, ident, uid, gid, *_):
    key = kt.lookup(p, ident, create=True, partial=True, need=SETATTR)
    if isinstance(key, int):
        return key
    uid, gid = uid & 0xFFFFFFFF, gid & 0xFFFFFFFF
    if uid != 0xFFFFFFFF and uid != key.uid:
        return -errno.EACCES                     # changing the owner needs CAP_SYS_ADMIN
    if gid != 0xFFFFFFFF and gid != key.gid:
        c = p.creds
        if key.uid != c.euid or gid not in (c.egid, *getattr(c, "groups", ())):
            return -errno.EACCES
        key.gid = gid
    return 0


@_op(5)
def _setperm(p, kt, ident, perm, *_):
    perm &= 0xFFFFFFFF
    if perm & ~PERM_MASK:
        return -errno.EINVAL
    key = kt.lookup(p, ident, create=True, partial=True, need=SETATTR)
    if isinstance(key, int):
        return key
    if key.uid != getattr(p.creds, "fsuid", p.creds.euid):
        return -errno.EACCES
    key.perm = perm
    return 0


@_op(6)
def _describe(p, kt, ident, buf, buflen, *_):
    key = kt.lookup(p, ident, partial=True, need=VIEW)
    if isinstance(key, int):
        return key
    text = f"{key.type};{key.uid};{key.gid};{key.perm:08x};{key.desc}".encode() + b"\0"
    if buf and buflen >= len(text) and not p.mm.write(buf, text):
        return -errno.EFAULT
    return len(text)


@_op(7)
def _clear(p, kt, ident, *_):
    key = kt.lookup(p, ident, create=True, need=WRITE)
    if isinstance(key, int):
        return key
    if not key.is_keyring:
        return -errno.ENOTDIR
    key.payload.clear()
    kt.gc()
    return 0


@_op(8)
def _link(p, kt, ident, ringid, *_):
    ring = kt.lookup(p, ringid, create=True, need=WRITE)
    if isinstance(ring, int):
        return ring
    key = kt.lookup(p, ident, create=True, need=LINK)
    if isinstance(key, int):
        return key
    return kt.link(ring, key)


@_op(9)
def _unlink(p, kt, ident, ringid, *_):
    ring = kt.lookup(p, ringid, need=WRITE)
    if isinstance(ring, int):
        return ring
    key = kt.lookup(p, ident, partial=True, unlink=True)
    if isinstance(key, int):
        return key
    if not ring.is_keyring:
        return -errno.ENOTDIR
    if key not in ring.payload:
        return -errno.ENOENT
    ring.payload.remove(key)
    kt.gc()
    return 0


@_op(10)
def _search(p, kt, ringid, type_ptr, desc_ptr, destid, *_):
    ktype = _type(p, type_ptr)
    if isinstance(ktype, int):
        return ktype
    desc = _desc(p, desc_ptr)
    if isinstance(desc, int):
        return desc
    ring = kt.lookup(p, ringid, need=SEARCH)
    if isinstance(ring, int):
        return ring
    dest = None
    if destid:
        dest = kt.lookup(p, destid, create=True, need=WRITE)
        if isinstance(dest, int):
            return dest
    if ktype not in ("user", "keyring"):
        return -errno.ENOKEY
    if not ring.is_keyring:
        return -errno.ENOTDIR
    found = kt.find_in(p, ring, ktype, desc)
    if isinstance(found, int):
        return found
    if dest is not None:
        if not kt._perm_ok(p, found, LINK, True):
            return -errno.EACCES
        err = kt.link(dest, found)
        if err:
            return err
    return found.serial


@_op(11)
def _read(p, kt, ident, buf, buflen, *_):
    key = kt.lookup(p, ident)
    if isinstance(key, int):
        return key
    if not kt._perm_ok(p, key, READ, kt.possessed(p, key)):
        if not kt.possessed(p, key) or not kt._perm_ok(p, key, SEARCH, True):
            return -errno.EACCES
    data = struct.pack(f"<{len(key.payload)}i", *(k.serial for k in key.payload)) \
        if key.is_keyring else key.payload
    if buf and buflen > 0:
        if not p.mm.write(buf, data[:buflen]):
            return -errno.EFAULT
    return len(data)


@_op(15)
def _set_timeout(p, kt, ident, timeout, *_):
    key = kt.lookup(p, ident, create=True, partial=True, need=SETATTR)
    if isinstance(key, int):
        return key
    timeout &= 0xFFFFFFFF
    key.expiry = time.monotonic() + timeout if timeout else None
    return 0


@_op(21)
def _invalidate(p, kt, ident, *_):
    key = kt.lookup(p, ident, need=SEARCH)
    if isinstance(key, int):
        return key
    key.invalidated = True
    for r in kt.keys.values():
        if r.is_keyring and key in r.payload:
            r.payload.remove(key)
    kt.gc()
    return 0


@_op(14)
def _set_reqkey_keyring(p, kt, which, *_):
    which &= 0xFFFFFFFF
    which = which - (1 << 32) if which & 0x80000000 else which
    r = kt._rings(p)
    old = r.get("reqkey", 0)
    if which == -1:                              # KEY_REQKEY_DEFL_NO_CHANGE
        return old
    if not 0 <= which <= 7 or which == 7:
        return -errno.EINVAL
    r["reqkey"] = which
    return old


@_op(17)
def _get_security(p, kt, ident, buf, buflen, *_):
    key = kt.lookup(p, ident, partial=True, need=VIEW)
    if isinstance(key, int):
        return key
    if buf and buflen >= 1 and not p.mm.write(buf, b"\0"):
        return -errno.EFAULT
    return 1                                     # no LSM labels keys: the empty string


def _no_authority(p, kt, *_):
    return -errno.EPERM                          # no request_key authorisation key exists


for _n in (12, 13, 19, 20):                      # INSTANTIATE, NEGATE, REJECT, INSTANTIATE_IOV
    KEYCTL[_n] = _no_authority


@_op(16)
def _assume_authority(p, kt, ident, *_):
    return 0 if ident == 0 else -errno.EPERM


def sys_keyctl(p, op, a2, a3, a4, a5, *_):
    op &= 0xFFFFFFFF
    handler = KEYCTL.get(op)
    if handler is None:
        if op > 32:                              # not an operation of Linux 6.x: as the kernel
            return -errno.EOPNOTSUPP
        p.warn_once(f"keyctl:{op}", f"keyctl operation {op} is not modelled in the guest's key "
                                    "store (-EOPNOTSUPP)")
        return -errno.EOPNOTSUPP
    return handler(p, _table(p), a2, a3, a4, a5)
