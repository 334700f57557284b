"""Unit tests of elfkit's dynamic linker pieces: hash functions and bloom filter (against the
tables binutils' ld built into libc.so.6), version matching (against readelf's view of libc),
and every relocation kind against hand-computed values."""
import struct
import subprocess

import pytest

from elfkit.elf import ElfFile
from elfkit.elf.constants import SHN, STB, STT
from elfkit.elf.hash import gnu_hash, read_gnu_hash, read_sysv_hash, sysv_hash
from elfkit.elf.symbols import Symbol
from elfkit.linker.lookup import Version, lookup
from elfkit.linker.reloc import Relocator

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


# --- hash functions ---------------------------------------------------------------------------

def test_hash_functions_by_hand():
    assert gnu_hash(b"") == 5381
    assert gnu_hash(b"a") == 5381 * 33 + ord("a")
    assert gnu_hash(b"ab") == ((5381 * 33 + ord("a")) * 33 + ord("b")) & 0xFFFFFFFF
    assert sysv_hash(b"") == 0
    assert sysv_hash(b"a") == ord("a")
    assert sysv_hash(b"ab") == (ord("a") << 4) + ord("b")
    # the high nibble folds back: 8 characters push bits past 28
    h = 0
    for c in b"abcdefgh":
        h = (h << 4) + c
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    assert sysv_hash(b"abcdefgh") == h


def _dso_tables(path):
    elf = ElfFile.open(path)
    from elfkit.elf.constants import DT
    gnu = read_gnu_hash(elf, elf.vaddr_to_offset(elf.dynamic.value(DT.GNU_HASH)))
    hash_addr = elf.dynamic.value(DT.HASH)
    sysv = read_sysv_hash(elf, elf.vaddr_to_offset(hash_addr)) if hash_addr else None
    return elf, gnu, sysv


def test_gnu_hash_matches_the_chains_ld_wrote():
    """Every hashed symbol's chain word is its GNU hash with the low bit used as end marker."""
    elf, gnu, _ = _dso_tables(LIBC)
    syms = elf.dynsym.symbols
    checked = 0
    for s in syms[gnu.symoffset:]:
        (chain,) = struct.unpack_from("<I", elf.data, gnu.chains_offset + 4 * (s.index - gnu.symoffset))
        assert chain | 1 == gnu_hash(s.name.encode()) | 1, s.name
        assert gnu.bloom_may_contain(gnu_hash(s.name.encode())), s.name
        checked += 1
    assert checked > 1000


def test_sysv_hash_finds_every_symbol_in_its_bucket():
    path = next(p for p in ("/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1")
                if _dso_tables(p)[2] is not None)
    elf, _, sysv = _dso_tables(path)
    syms = elf.dynsym.symbols
    for s in syms[1:200]:
        i = sysv.buckets[sysv_hash(s.name.encode()) % sysv.nbucket]
        while i and syms[i].name != s.name:
            i = sysv.chains[i]
        assert i, s.name


# --- lookup with versions, against readelf ------------------------------------------------------

class LoadedLib:
    """A Dso-shaped view of a library file at base 0 (what lookup needs)."""

    def __init__(self, path):
        self.elf = ElfFile.open(path)
        self.base = 0
        self.path = path

    @property
    def symbols(self):
        return self.elf.dynsym.symbols

    def dt(self, tag):
        return self.elf.dynamic.value(tag)

    def hash_tables(self):
        from elfkit.linker.dso import Dso
        return Dso.hash_tables(self)


def readelf_versions(name):
    text = subprocess.run(["readelf", "-W", "--dyn-syms", LIBC], capture_output=True, text=True).stdout
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 8 and f[7].split("@")[0] == name and f[6] != "UND":
            out[f[7].split("@", 1)[1]] = int(f[1], 16)
    return out


def test_versioned_lookup_picks_the_version_asked_for():
    libc = LoadedLib(LIBC)
    versions = readelf_versions("memcpy")          # {'GLIBC_2.2.5': ..., '@GLIBC_2.14': ...}
    old = versions["GLIBC_2.2.5"]
    default = versions["@GLIBC_2.14"]
    assert old != default
    d = lookup("memcpy", [libc], Version("GLIBC_2.2.5", sysv_hash(b"GLIBC_2.2.5")))
    assert d.symbol.value == old and d.version == "GLIBC_2.2.5"
    d = lookup("memcpy", [libc], Version("GLIBC_2.14", sysv_hash(b"GLIBC_2.14")))
    assert d.symbol.value == default
    d = lookup("memcpy", [libc], None)              # no version: the default (@@) one
    assert d.symbol.value == default
    assert lookup("memcpy", [libc], Version("GLIBC_9.99", 0)) is None
    assert lookup("no_such_symbol_anywhere", [libc]) is None


# --- relocation kinds by hand ------------------------------------------------------------------

class FakeCpu:
    def __init__(self):
        self.mem = bytearray(0x4000)

    def write(self, addr, data):
        self.mem[addr - 0x10000:addr - 0x10000 + len(data)] = data

    def read(self, addr, size):
        return bytes(self.mem[addr - 0x10000:addr - 0x10000 + size])


class FakeDso:
    def __init__(self, base, symbols, tls_offset=0, tls_module=0):
        self.base, self.symbols = base, symbols
        self.tls_offset, self.tls_module = tls_offset, tls_module
        self.path = "fake.so"

        class NoVersions:
            versym = None
            verneed_names = verdef_names = {}

        class E:
            versions = NoVersions()
        self.elf = E()

    def hash_tables(self):
        return None, None


class FakeLinker:
    def __init__(self, cpu, scope):
        class P:
            pass
        self.proc = P()
        self.proc.cpu = cpu
        self.scope = scope
        self.rtld_symbols = {}

    def scope_for(self, dso, sym):
        return self.scope

    def record_binding(self, *a):
        pass

    def call_ifunc(self, resolver):
        return resolver + 0x1000           # "the resolver picked" a known address


def sym(i, name, value, size=8, type_=STT.FUNC, bind=STB.GLOBAL, shndx=1):
    return Symbol(i, name, value, size, bind << 4 | type_, 0, shndx)


@pytest.fixture
def setup():
    cpu = FakeCpu()
    definer = FakeDso(0x11000, [sym(0, "", 0, shndx=SHN.UNDEF), sym(1, "target", 0x100),
                                sym(2, "tvar", 0x8, type_=STT.TLS),
                                sym(3, "chooser", 0x200, type_=STT.GNU_IFUNC),
                                sym(4, "data", 0x300, size=16, type_=STT.OBJECT)],
                      tls_offset=0x40, tls_module=2)
    user = FakeDso(0x10000, [sym(0, "", 0, shndx=SHN.UNDEF),
                             sym(1, "target", 0, shndx=SHN.UNDEF),
                             sym(2, "tvar", 0, type_=STT.TLS, shndx=SHN.UNDEF),
                             sym(3, "chooser", 0, shndx=SHN.UNDEF),
                             sym(4, "data", 0, size=16, type_=STT.OBJECT, shndx=SHN.UNDEF),
                             sym(5, "missing_weak", 0, bind=STB.WEAK, shndx=SHN.UNDEF)])
    linker = FakeLinker(cpu, [user, definer])
    return cpu, Relocator(linker), user, definer


def q(cpu, addr):
    return struct.unpack("<Q", cpu.read(addr, 8))[0]


def test_each_relocation_kind(setup):
    cpu, r, user, definer = setup
    where = 0x10100
    r._relative(user, where, 0, 0x42)
    assert q(cpu, where) == 0x10000 + 0x42                           # B + A
    r._symbolic(user, where, 1, 8)
    assert q(cpu, where) == 0x11000 + 0x100 + 8                      # S + A
    r._got(user, where, 1, 0)
    assert q(cpu, where) == 0x11100                                  # S
    r._plt(user, where, 1, 0)
    assert q(cpu, where) == 0x11100                                  # S
    r._pc32(user, where, 1, -4)
    assert struct.unpack("<i", cpu.read(where, 4))[0] == 0x11100 - 4 - where   # S + A - P
    r._plt(user, where, 3, 0)
    assert q(cpu, where) == 0x11200 + 0x1000                         # IFUNC: resolver's choice
    r._irelative(user, where, 0, 0x500)
    assert q(cpu, where) == 0x10000 + 0x500 + 0x1000                 # resolver(B + A)
    r._tpoff(user, where, 2, 4)
    assert q(cpu, where) == (0x8 + 4 - 0x40) & (2**64 - 1)           # S + A - tlsoffset
    r._dtpmod(user, where, 2, 0)
    assert q(cpu, where) == 2                                        # module id
    r._dtpoff(user, where, 2, 4)
    assert q(cpu, where) == 0x8 + 4                                  # S + A (in the block)
    r._symbolic(user, where, 5, 0)
    assert q(cpu, where) == 0                                        # undefined weak: 0
    cpu.write(0x11300, b"0123456789abcdef")
    r._copy(user, 0x10200, 4, 0)
    assert cpu.read(0x10200, 16) == b"0123456789abcdef"             # copy st_size bytes
    r._none(user, where, 0, 0)


def test_initial_exec_against_dynamic_tls_is_refused_as_glibc_does(setup):
    """R_X86_64_TPOFF64 needs a block in static TLS; a module without one (tls_offset 0)
    cannot be reached that way: ld.so's "cannot allocate memory in static TLS block"."""
    from elfkit.linker.dso import LinkError
    cpu, r, user, definer = setup
    definer.tls_offset = 0
    with pytest.raises(LinkError, match="cannot allocate memory in static TLS block"):
        r._tpoff(user, 0x10100, 2, 0)


def test_relr_adds_the_base(setup):
    cpu, r, user, _ = setup
    cpu.write(0x10010, struct.pack("<Q", 0x20))
    cpu.write(0x10018, struct.pack("<Q", 0x28))

    class T:
        relr_addresses = [0x10, 0x18]
    r._relr(user, T())
    assert q(cpu, 0x10010) == 0x10020 and q(cpu, 0x10018) == 0x10028


def test_undefined_strong_symbol_is_a_clear_error(setup):
    from elfkit.linker.dso import LinkError
    cpu, r, user, definer = setup
    user.symbols.append(sym(6, "nowhere", 0, shndx=SHN.UNDEF))
    with pytest.raises(LinkError, match="undefined symbol: nowhere"):
        r._got(user, 0x10100, 6, 0)


def test_protected_definition_binds_to_its_own_object(setup):
    """A protected symbol cannot be preempted: the defining object's own reference uses it,
    even when an earlier object in the scope defines the same name."""
    cpu, r, user, definer = setup
    index = len(definer.symbols)
    protected = Symbol(index, "target", 0x700, 8, STB.GLOBAL << 4 | STT.FUNC, 3, 1)  # STV_PROTECTED
    definer.symbols.append(protected)
    user.symbols[1] = sym(1, "target", 0x50)                   # the scope's first definition
    r.linker.scope = [user, definer]
    r._got(definer, 0x10100, index, 0)
    assert q(cpu, 0x10100) == 0x11000 + 0x700          # its own, not the first in scope


def test_unique_symbols_are_definitions():
    """STB_GNU_UNIQUE: one definition for the whole process, the first loaded."""
    from elfkit.linker.lookup import lookup as do_lookup
    first = FakeDso(0x20000, [sym(0, "", 0, shndx=SHN.UNDEF), sym(1, "u", 0x10, bind=STB.GNU_UNIQUE)])
    second = FakeDso(0x30000, [sym(0, "", 0, shndx=SHN.UNDEF), sym(1, "u", 0x20, bind=STB.GNU_UNIQUE)])
    d = do_lookup("u", [first, second])
    assert d.dso is first and d.value == 0x20010
