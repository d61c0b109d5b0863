/*
 * testutil.c — helpers shared by the unit test programs (see testutil.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"

#include "testutil.h"

void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        rm_rf(sub);
    }
    closedir(d);
    rmdir(path);
}

int file_contains(const char *path, const char *needle)
{
    char *data = NULL;
    size_t len = 0;
    if (file_read_all(path, &data, &len, (size_t)1 << 30) < 0) return 0;
    int found = memmem(data, len, needle, strlen(needle)) != NULL;
    free(data);
    return found;
}

size_t tree_contains(const char *dir, const char *needle)
{
    DIR *dp = opendir(dir);
    if (!dp) return (size_t)file_contains(dir, needle);
    size_t hits = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(sub, &sb) < 0) continue;
        hits += S_ISDIR(sb.st_mode) ? tree_contains(sub, needle) : (size_t)file_contains(sub, needle);
    }
    closedir(dp);
    return hits;
}
