/*
 * A test harness for wine only; never shipped with the worker.
 *
 * Rust 1.78+ programs for Windows get their random numbers from ProcessPrng in bcryptprimitives.dll
 * (Windows 10+). Debian's wine 8 has no such DLL, so worker.exe cannot start under it. This DLL exports
 * ProcessPrng implemented with RtlGenRandom (advapi32's SystemFunction036), which wine has. It is put in
 * the test wineprefix's system32 by scripts/test-wine.sh; a real Windows has its own.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
