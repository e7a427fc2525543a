/*
 * A test harness for wine only: sets up printers in the test wineprefix's spooler. wine lists the CUPS
 * queues of the machine as printers; CI has none, so the tests add their own.
 *
 *   spoolsetup.exe add NAME PORT     adds a driver (once) and printer NAME printing to PORT; wine takes a
 *                                    port "|command" as a shell pipe (the job's bytes on its stdin)
 *   spoolsetup.exe offline NAME 1|0  sets or clears "Use Printer Offline" (PRINTER_ATTRIBUTE_WORK_OFFLINE)
 *   spoolsetup.exe delete NAME       removes printer NAME
 *   spoolsetup.exe show NAME         prints Status, Attributes and cJobs of GetPrinter level 2
 */
#include <windows.h>
#include <winspool.h>
#include <stdio.h>
#include <stdlib.h>

#define DRIVER L"printcore test driver"

static int fail(const char *what) {
    fprintf(stderr, "spoolsetup: %s failed (error %lu)\n", what, GetLastError());
    return 1;
}

static PRINTER_INFO_2W *info(HANDLE h) {
    DWORD needed = 0;
    GetPrinterW(h, 2, NULL, 0, &needed);
    PRINTER_INFO_2W *p = calloc(1, needed ? needed : 1);
    if (!p || !GetPrinterW(h, 2, (BYTE *)p, needed, &needed)) return NULL;
    return p;
}

int wmain(int argc, wchar_t **argv) {
    if (argc >= 4 && !wcscmp(argv[1], L"add")) {
        DRIVER_INFO_3W d = {0};
        d.cVersion = 3;
        d.pName = DRIVER;
        d.pDriverPath = L"wineps.drv";
        d.pDataFile = L"wineps.drv";
        d.pConfigFile = L"wineps.drv";
        d.pDefaultDataType = L"RAW";
        if (!AddPrinterDriverExW(NULL, 3, (BYTE *)&d, APD_COPY_NEW_FILES) && GetLastError() != ERROR_PRINTER_DRIVER_ALREADY_INSTALLED)
            return fail("AddPrinterDriverEx");
        PRINTER_INFO_2W p = {0};
        p.pPrinterName = argv[2];
        p.pPortName = argv[3];
        p.pDriverName = DRIVER;
        p.pPrintProcessor = L"WinPrint";
        p.pDatatype = L"RAW";
        HANDLE h = AddPrinterW(NULL, 2, (BYTE *)&p);
        if (!h) return fail("AddPrinter");
        ClosePrinter(h);
        return 0;
    }
    if (argc >= 3) {
        HANDLE h;
        PRINTER_DEFAULTSW all = { NULL, NULL, PRINTER_ALL_ACCESS };
        if (!OpenPrinterW(argv[2], &h, &all)) return fail("OpenPrinter");
        if (!wcscmp(argv[1], L"delete")) {
            if (!DeletePrinter(h)) return fail("DeletePrinter");
        } else if (!wcscmp(argv[1], L"offline") && argc >= 4) {
            PRINTER_INFO_2W *p = info(h);
            if (!p) return fail("GetPrinter");
            if (_wtoi(argv[3])) p->Attributes |= PRINTER_ATTRIBUTE_WORK_OFFLINE;
            else p->Attributes &= ~PRINTER_ATTRIBUTE_WORK_OFFLINE;
            if (!SetPrinterW(h, 2, (BYTE *)p, 0)) return fail("SetPrinter");
        } else if (!wcscmp(argv[1], L"show")) {
            PRINTER_INFO_2W *p = info(h);
            if (!p) return fail("GetPrinter");
            printf("status=0x%lx attributes=0x%lx jobs=%lu\n", p->Status, p->Attributes, p->cJobs);
        } else {
            fprintf(stderr, "spoolsetup: unknown command\n");
            return 2;
        }
        ClosePrinter(h);
        return 0;
    }
    fprintf(stderr, "usage: spoolsetup add NAME PORT | offline NAME 1|0 | delete NAME | show NAME\n");
    return 2;
}
