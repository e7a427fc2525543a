/*
 * A test harness for wine only: the stand-in for SumatraPDF in the wine tests. `spoolprint.exe PRINTER
 * FILE` sends FILE to the Windows print spooler's PRINTER as one raw job whose document name is FILE's
 * path, as SumatraPDF names its jobs (`-print-to PRINTER FILE`). Exit 0 when the spooler took the whole
 * job, 1 with a message otherwise. With PRINTCORE_SPOOLPRINT_SLEEP_MS set, it waits that long with the
 * job open (a slow printer driver).
 */
#include <windows.h>
#include <winspool.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what) {
    fprintf(stderr, "spoolprint: %s failed (error %lu)\n", what, GetLastError());
    return 1;
}

int wmain(int argc, wchar_t **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: spoolprint PRINTER FILE\n");
        return 2;
    }
    HANDLE file = CreateFileW(argv[2], GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    if (file == INVALID_HANDLE_VALUE) return fail("CreateFile");
    HANDLE printer;
    if (!OpenPrinterW(argv[1], &printer, NULL)) return fail("OpenPrinter");
    DOC_INFO_1W doc = { argv[2], NULL, L"RAW" };
    DWORD job = StartDocPrinterW(printer, 1, (BYTE *)&doc);
    if (!job) return fail("StartDocPrinter");
    char buf[65536];
    DWORD got, put;
    while (ReadFile(file, buf, sizeof buf, &got, NULL) && got > 0) {
        if (!WritePrinter(printer, buf, got, &put) || put != got) return fail("WritePrinter");
    }
    char sleep_ms[32];
    if (GetEnvironmentVariableA("PRINTCORE_SPOOLPRINT_SLEEP_MS", sleep_ms, sizeof sleep_ms)) Sleep(atoi(sleep_ms));
    if (!EndDocPrinter(printer)) return fail("EndDocPrinter");
    ClosePrinter(printer);
    CloseHandle(file);
    printf("spooled job %lu\n", job);
    return 0;
}
