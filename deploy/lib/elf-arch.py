#!/usr/bin/env python3
"""Says which machines can run an ELF executable, from its header (used by deploy/fleet-deploy.sh).

  elf-arch.py FILE           prints "CLASS MACHINE ARMARCH": 32|64, e_machine's name (aarch64,
                             arm, x86_64, i386, riscv64, other-N), and for 32-bit ARM the
                             Tag_CPU_arch of .ARM.attributes (6 = ARMv6 ... 10 = ARMv7; "-" if
                             unknown or not ARM); exits 1 with a reason for a file that is no ELF
  elf-arch.py FILE UNAME_M   exits 0 when a machine with that `uname -m` runs it, else prints
                             why not and exits 1
Reads the file only; standard library only.
"""
import struct
import sys

MACHINES = {183: "aarch64", 40: "arm", 62: "x86_64", 3: "i386", 243: "riscv64"}
CPU_ARCH = {6: "ARMv6", 7: "ARMv6KZ", 8: "ARMv6T2", 9: "ARMv6K", 10: "ARMv7", 14: "ARMv8"}
NAMES = {"aarch64": "AArch64 (64-bit ARM)", "arm": "32-bit ARM", "x86_64": "x86-64", "i386": "x86 (32-bit)"}


def uleb(data, i):
    value = shift = 0
    while i < len(data):
        b = data[i]; i += 1
        value |= (b & 0x7F) << shift; shift += 7
        if not b & 0x80:
            break
    return value, i


def arm_cpu_arch(data, sections):
    """Tag_CPU_arch (tag 6) of the "aeabi" attributes, or None."""
    for name, off, size in sections:
        if name != b".ARM.attributes" or data[off:off + 1] != b"A":
            continue
        sub = data[off + 1:off + size]
        vendor_end = sub.find(b"\0", 4)
        if sub[4:vendor_end] != b"aeabi":
            return None
        i = vendor_end + 1 + 5            # file tag (1) and its 4-byte size
        end = 4 + struct.unpack_from("<I", sub, 0)[0]
        while i < min(end, len(sub)):
            tag, i = uleb(sub, i)
            if tag == 6:
                return uleb(sub, i)[0]
            if tag in (4, 5, 67) or (tag > 32 and tag % 2):   # strings
                i = sub.find(b"\0", i) + 1
            elif tag == 32:                                    # Tag_compatibility: uleb + string
                _, i = uleb(sub, i); i = sub.find(b"\0", i) + 1
            else:
                _, i = uleb(sub, i)
    return None


def describe(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        raise ValueError(f"{path} is not an ELF executable (no \\x7fELF header)")
    bits = {1: 32, 2: 64}.get(data[4])
    if bits is None or data[5] != 1:
        raise ValueError(f"{path}: unsupported ELF class/byte order")
    machine_no = struct.unpack_from("<H", data, 18)[0]
    machine = MACHINES.get(machine_no, f"other-{machine_no}")
    cpu = None
    if machine == "arm":
        shoff, = struct.unpack_from("<I", data, 32)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 46)
        raw = [struct.unpack_from("<IIIIII", data, shoff + k * shentsize) for k in range(shnum)]
        strtab = raw[shstrndx][4] if shnum else 0
        sections = [(data[strtab + s[0]:data.find(b"\0", strtab + s[0])], s[4], s[5]) for s in raw]
        cpu = arm_cpu_arch(data, sections)
    return bits, machine, cpu


def runs_on(bits, machine, cpu, uname):
    """None when a machine of that `uname -m` runs it, else the reason."""
    what = NAMES.get(machine, machine) + (f" ({CPU_ARCH.get(cpu, f'Tag_CPU_arch {cpu}')})" if cpu else "")
    ok = {
        "aarch64": machine == "aarch64" or machine == "arm",   # 32-bit ARM runs in AArch32 mode
        "armv8l": machine == "arm", "armv7l": machine == "arm",
        "armv6l": machine == "arm" and cpu is not None and cpu <= 9,
        "x86_64": machine in ("x86_64", "i386"), "i686": machine == "i386",
        "riscv64": machine == "riscv64",
    }.get(uname, False)
    if ok:
        return None
    if uname == "armv6l" and machine == "arm":
        return f"it is a {what} binary and an ARMv6 Pi (Pi 1/Zero/Zero W) cannot run ARMv7 code: build it with deploy/build-pi.sh armv6"
    return f"it is a {what} binary and the host is {uname} (uname -m)"


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    try:
        bits, machine, cpu = describe(argv[1])
    except (OSError, ValueError, struct.error, IndexError) as e:
        print(e)
        sys.exit(1)
    if len(argv) == 2:
        print(bits, machine, cpu if cpu is not None else "-")
        return
    why = runs_on(bits, machine, cpu, argv[2])
    if why:
        print(why)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv)
