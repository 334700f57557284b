"""Relocation type names of s390 and s390x, as readelf -W -r prints them: r_type -> name
with the prefix R_390_ taken off (elfkit/elf/reloc_names/__init__.py)."""

PREFIX = "R_390_"

NAMES = {
    0: 'NONE', 1: '8', 2: '12', 3: '16', 4: '32', 5: 'PC32', 6: 'GOT12', 7: 'GOT32', 8: 'PLT32',
    9: 'COPY', 10: 'GLOB_DAT', 11: 'JMP_SLOT', 12: 'RELATIVE', 13: 'GOTOFF32', 14: 'GOTPC',
    15: 'GOT16', 16: 'PC16', 17: 'PC16DBL', 18: 'PLT16DBL', 19: 'PC32DBL', 20: 'PLT32DBL',
    21: 'GOTPCDBL', 22: '64', 23: 'PC64', 24: 'GOT64', 25: 'PLT64', 26: 'GOTENT', 27: 'GOTOFF16',
    28: 'GOTOFF64', 29: 'GOTPLT12', 30: 'GOTPLT16', 31: 'GOTPLT32', 32: 'GOTPLT64',
    33: 'GOTPLTENT', 34: 'PLTOFF16', 35: 'PLTOFF32', 36: 'PLTOFF64', 37: 'TLS_LOAD',
    38: 'TLS_GDCALL', 39: 'TLS_LDCALL', 40: 'TLS_GD32', 41: 'TLS_GD64', 42: 'TLS_GOTIE12',
    43: 'TLS_GOTIE32', 44: 'TLS_GOTIE64', 45: 'TLS_LDM32', 46: 'TLS_LDM64', 47: 'TLS_IE32',
    48: 'TLS_IE64', 49: 'TLS_IEENT', 50: 'TLS_LE32', 51: 'TLS_LE64', 52: 'TLS_LDO32',
    53: 'TLS_LDO64', 54: 'TLS_DTPMOD', 55: 'TLS_DTPOFF', 56: 'TLS_TPOFF', 57: '20', 58: 'GOT20',
    59: 'GOTPLT20', 60: 'TLS_GOTIE20', 61: 'IRELATIVE', 62: 'PC12DBL', 63: 'PLT12DBL',
    64: 'PC24DBL', 65: 'PLT24DBL', 250: 'GNU_VTINHERIT', 251: 'GNU_VTENTRY',
}
