"""Relocation type names of SPARC (32-bit, V8+, V9), as readelf -W -r prints them: r_type -> name
with the prefix R_SPARC_ taken off (elfkit/elf/reloc_names/__init__.py)."""

PREFIX = "R_SPARC_"

NAMES = {
    0: 'NONE', 1: '8', 2: '16', 3: '32', 4: 'DISP8', 5: 'DISP16', 6: 'DISP32', 7: 'WDISP30',
    8: 'WDISP22', 9: 'HI22', 10: '22', 11: '13', 12: 'LO10', 13: 'GOT10', 14: 'GOT13', 15: 'GOT22',
    16: 'PC10', 17: 'PC22', 18: 'WPLT30', 19: 'COPY', 20: 'GLOB_DAT', 21: 'JMP_SLOT',
    22: 'RELATIVE', 23: 'UA32', 24: 'PLT32', 25: 'HIPLT22', 26: 'LOPLT10', 27: 'PCPLT32',
    28: 'PCPLT22', 29: 'PCPLT10', 30: '10', 31: '11', 32: '64', 33: 'OLO10', 34: 'HH22',
    35: 'HM10', 36: 'LM22', 37: 'PC_HH22', 38: 'PC_HM10', 39: 'PC_LM22', 40: 'WDISP16',
    41: 'WDISP19', 42: 'UNUSED_42', 43: '7', 44: '5', 45: '6', 46: 'DISP64', 47: 'PLT64',
    48: 'HIX22', 49: 'LOX10', 50: 'H44', 51: 'M44', 52: 'L44', 53: 'REGISTER', 54: 'UA64',
    55: 'UA16', 56: 'TLS_GD_HI22', 57: 'TLS_GD_LO10', 58: 'TLS_GD_ADD', 59: 'TLS_GD_CALL',
    60: 'TLS_LDM_HI22', 61: 'TLS_LDM_LO10', 62: 'TLS_LDM_ADD', 63: 'TLS_LDM_CALL',
    64: 'TLS_LDO_HIX22', 65: 'TLS_LDO_LOX10', 66: 'TLS_LDO_ADD', 67: 'TLS_IE_HI22',
    68: 'TLS_IE_LO10', 69: 'TLS_IE_LD', 70: 'TLS_IE_LDX', 71: 'TLS_IE_ADD', 72: 'TLS_LE_HIX22',
    73: 'TLS_LE_LOX10', 74: 'TLS_DTPMOD32', 75: 'TLS_DTPMOD64', 76: 'TLS_DTPOFF32',
    77: 'TLS_DTPOFF64', 78: 'TLS_TPOFF32', 79: 'TLS_TPOFF64', 80: 'GOTDATA_HIX22',
    81: 'GOTDATA_LOX10', 82: 'GOTDATA_OP_HIX22', 83: 'GOTDATA_OP_LOX10', 84: 'GOTDATA_OP',
    85: 'H34', 86: 'SIZE32', 87: 'SIZE64', 88: 'WDISP10', 248: 'JMP_IREL', 249: 'IRELATIVE',
    250: 'GNU_VTINHERIT', 251: 'GNU_VTENTRY', 252: 'REV32',
}
