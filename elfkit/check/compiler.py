"""What the compiler put in: stack protector, FORTIFY_SOURCE, CET/BTI/PAC, x86-64 ISA level.

Seen from outside the code, by what the file references: `__stack_chk_fail`
imports (gcc -fstack-protector*), `__*_chk` imports (-D_FORTIFY_SOURCE), and
the GNU property note that ld ANDs / ORs over every input object: on x86
`GNU_PROPERTY_X86_FEATURE_1_AND` (CET: IBT, SHSTK) and `X86_ISA_1_NEEDED`, on
AArch64 `GNU_PROPERTY_AARCH64_FEATURE_1_AND` (BTI, PAC). Symbol names are
machine-independent, except that PowerPC64 ELFv1 code symbols may carry a
leading dot (Facts.code_names).
"""
from __future__ import annotations

from elfkit.check.facts import KINDS
from elfkit.check.fortify import classify
from elfkit.check.results import FAIL, NA, PASS, result
from elfkit.elf.constants import EM, GNU_PROPERTY, GNU_PROPERTY_X86_FEATURE_1_IBT, \
    GNU_PROPERTY_X86_FEATURE_1_SHSTK
from elfkit.elf.notes import GNU_PROPERTY_AARCH64_FEATURE_1_BTI, \
    GNU_PROPERTY_AARCH64_FEATURE_1_PAC

CANARY_SYMBOLS = ("__stack_chk_fail", "__stack_chk_guard", "__stack_chk_fail_local",
                  "__intel_security_cookie")
ISA_LEVELS = ("baseline", "v2", "v3", "v4")        # GNU_PROPERTY_X86_ISA_1_V2.. bits 1..3

_STATIC_WHY = ("statically linked: the C library's own objects reference {sym}, so its "
               "presence says nothing about this program's code")


def _references(facts) -> tuple[frozenset[str], str]:
    """(names this file references from elsewhere, where they were read)."""
    if facts.kind == "object":
        return facts.code_names(facts.symtab_names[1]), ".symtab undefined"
    return facts.code_names(facts.imports), ".dynsym undefined"


def check_canary(facts, policy):
    """Stack protector: the file calls __stack_chk_fail (or reads __stack_chk_guard)."""
    if facts.kind in ("core", "other"):
        return result("canary", NA, "n/a", f"{KINDS[facts.kind]}", symbols=[])
    if facts.static:
        defined = facts.code_names(facts.symtab_names[0])
        if facts.has_symtab and not any(s in defined for s in CANARY_SYMBOLS):
            return result("canary", FAIL, "no", "statically linked and no __stack_chk_fail "
                          "anywhere in .symtab: nothing in the file has a stack protector",
                          symbols=[], source=".symtab defined")
        return result("canary", NA, "unknown", _STATIC_WHY.format(sym="__stack_chk_fail"),
                      symbols=[s for s in CANARY_SYMBOLS if s in defined],
                      source=".symtab defined" if facts.has_symtab else None)
    names, where = _references(facts)
    found = [s for s in CANARY_SYMBOLS if s in names]
    if found:
        return result("canary", PASS, "yes", f"references {found[0]}", symbols=found,
                      source=where)
    if facts.kind != "object":
        # The C library defines __stack_chk_fail; on machines whose guard is a global
        # variable rather than a TLS word (AArch64, ARM, MIPS, ...) ld.so defines
        # __stack_chk_guard and uses it with its own hidden __stack_chk_fail.
        for sym in ("__stack_chk_fail", "__stack_chk_guard"):
            if facts.defines_dynamic(sym):
                return result("canary", NA, "provider", f"defines {sym} itself (the C "
                              "library or its dynamic loader)", symbols=[],
                              source=".dynsym defined")
    return result("canary", FAIL, "no", "no reference to __stack_chk_fail: no function was "
                  "compiled with a stack protector", symbols=[], source=where)


def check_fortify(facts, policy):
    """FORTIFY_SOURCE: fortified (`__X_chk`) vs fortifiable-but-plain libc calls."""
    if facts.kind in ("core", "other"):
        return result("fortify", NA, "n/a", KINDS[facts.kind], fortified=[], unfortified=[])
    if facts.static:
        # Archive members are linked only when referenced and libc calls its own
        # internal aliases, so a __X_chk in .symtab was asked for by the program; the
        # plain functions are always there (libc uses them), so they prove nothing.
        fortified, _ = classify(facts.code_names(facts.symtab_names[0]))
        if fortified:
            return result("fortify", PASS, f"{len(fortified)}/?", f"statically linked with "
                          f"{len(fortified)} fortified function(s)", fortified=fortified,
                          unfortified=None, source=".symtab defined")
        return result("fortify", NA, "unknown", "statically linked: no __*_chk function "
                      "linked in, and plain calls cannot be told from libc's own",
                      fortified=[], unfortified=None, source=".symtab defined")
    names, where = _references(facts)
    glibc = None
    if facts.kind != "object":
        from elfkit.check.linking import needed_versions
        glibc = max(needed_versions(facts)["GLIBC"], default=None)
    fortified, unfortified = classify(names, glibc)
    value = f"{len(fortified)}/{len(fortified) + len(unfortified)}"
    ev = {"fortified": fortified, "unfortified": unfortified, "source": where}
    if fortified:
        return result("fortify", PASS, value, f"{len(fortified)} fortified call(s); "
                      f"{len(unfortified)} plain call(s) to functions that have a __*_chk "
                      "variant", **ev)
    if unfortified:
        return result("fortify", FAIL, value, f"no fortified calls, {len(unfortified)} plain "
                      "call(s) to functions that have a __*_chk variant", **ev)
    return result("fortify", NA, value, "no calls to libc functions that FORTIFY_SOURCE "
                  "guards", **ev)


def _x86_feature(check, bit, name, facts):
    if not facts.x86 or facts.kind in ("core", "other"):
        return result(check, NA, "n/a", "not an x86 file" if not facts.x86 else
                      KINDS[facts.kind], feature_1_and=None)
    value = facts.x86_feature_1()
    if value is None:
        return result(check, FAIL, "no", "no GNU_PROPERTY_X86_FEATURE_1_AND property: "
                      f"not every input object was built with {name}", feature_1_and=None)
    if value & bit:
        return result(check, PASS, "yes", f"GNU_PROPERTY_X86_FEATURE_1_AND has {name.split()[0]}",
                      feature_1_and=value)
    return result(check, FAIL, "no", f"GNU_PROPERTY_X86_FEATURE_1_AND lacks "
                  f"{name.split()[0]}", feature_1_and=value)


def _aarch64_feature(check, bit, name, flag, facts):
    if facts.elf.header.machine != EM.AARCH64 or facts.kind in ("core", "other"):
        return result(check, NA, "n/a", "not an AArch64 file" if facts.kind not in
                      ("core", "other") else KINDS[facts.kind], feature_1_and=None)
    value = facts.aarch64_feature_1()
    if value is None:
        return result(check, FAIL, "no", "no GNU_PROPERTY_AARCH64_FEATURE_1_AND property: "
                      f"not every input object was built with {name} ({flag})",
                      feature_1_and=None)
    if value & bit:
        return result(check, PASS, "yes", f"GNU_PROPERTY_AARCH64_FEATURE_1_AND has {name}",
                      feature_1_and=value)
    return result(check, FAIL, "no", f"GNU_PROPERTY_AARCH64_FEATURE_1_AND lacks {name} "
                  f"({flag})", feature_1_and=value)


def check_bti(facts, policy):
    """AArch64 branch target identification: every input built with -mbranch-protection=bti
    (or =standard); the kernel maps such a file's code PROT_BTI (arch_elf_adjust_prot)."""
    return _aarch64_feature("bti", GNU_PROPERTY_AARCH64_FEATURE_1_BTI, "BTI",
                            "-mbranch-protection=bti or =standard", facts)


def check_pac(facts, policy):
    """AArch64 pointer authentication of return addresses: every input built with
    -mbranch-protection=pac-ret (or =standard)."""
    return _aarch64_feature("pac", GNU_PROPERTY_AARCH64_FEATURE_1_PAC, "PAC",
                            "-mbranch-protection=pac-ret or =standard", facts)


def check_cet_ibt(facts, policy):
    """CET indirect branch tracking: every input built with -fcf-protection=branch."""
    return _x86_feature("cet-ibt", GNU_PROPERTY_X86_FEATURE_1_IBT,
                        "IBT (-fcf-protection=branch)", facts)


def check_cet_shstk(facts, policy):
    """CET shadow stack: every input built with -fcf-protection=return."""
    return _x86_feature("cet-shstk", GNU_PROPERTY_X86_FEATURE_1_SHSTK,
                        "SHSTK (-fcf-protection=return)", facts)


def isa_level_needed(facts) -> tuple[int, int | None]:
    """(level index into ISA_LEVELS, raw GNU_PROPERTY_X86_ISA_1_NEEDED or None)."""
    raw = facts.gnu_properties.get(GNU_PROPERTY.X86_ISA_1_NEEDED)
    if not raw:
        return 0, raw
    return min(raw.bit_length() - 1, len(ISA_LEVELS) - 1), raw


def check_isa_level(facts, policy):
    """x86-64 micro-architecture level the file needs (glibc refuses to load it on less)."""
    if not facts.x86 or facts.kind in ("core", "other"):
        return result("isa-level", NA, "n/a", "not an x86 file" if not facts.x86 else
                      KINDS[facts.kind], needed=None, limit=None)
    level, raw = isa_level_needed(facts)
    name = ISA_LEVELS[level]
    limit = policy.max_isa
    ev = {"needed": name, "isa_1_needed": raw, "limit": limit}
    why = (f"GNU_PROPERTY_X86_ISA_1_NEEDED says x86-64-{name}" if raw else
           "no GNU_PROPERTY_X86_ISA_1_NEEDED: baseline x86-64")
    if limit is not None and level > ISA_LEVELS.index(limit):
        return result("isa-level", FAIL, name, f"{why}, above the limit {limit}", **ev)
    return result("isa-level", PASS, name, why, **ev)
