/*
 * backup_internal.h — private to src/backup/: the target handle and the S3
 * client that backup.c dispatches to (backup_s3.c).
 */
#ifndef SEALBOX_BACKUP_INTERNAL_H
#define SEALBOX_BACKUP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "backup/backup.h"

typedef struct backup_s3 backup_s3;

struct backup_target {
    int is_s3;
    char dir[4096];                  /* local: the folder holding <id>/ folders */
    backup_s3 *s3;
};

/* s3://bucket/prefix with the endpoint, region and credentials of cfg. */
backup_s3 *backup_s3_open(const backup_config *cfg, char *err, size_t errlen);
void backup_s3_close(backup_s3 *s);
int backup_s3_list(backup_s3 *s, const char *mailbox_id, backup_version **out, size_t *n,
                   char *err, size_t errlen);
int backup_s3_put(backup_s3 *s, const char *mailbox_id, const char *version, const char *path,
                  const char *sha256, const char *state, char *err, size_t errlen);
/* `size`: what the listing said; a longer body is refused (0: not known). */
int backup_s3_get(backup_s3 *s, const char *mailbox_id, const char *version, uint64_t size,
                  const char *path, char *err, size_t errlen);
int backup_s3_delete(backup_s3 *s, const char *mailbox_id, const char *version,
                     char *err, size_t errlen);

/* 1 when `v` has the form of a version name "YYYYMMDDTHHMMSS.mmmZ". */
int backup_version_valid(const char *v);
/* Sorts versions oldest first (their names sort by time). */
void backup_versions_sort(backup_version *v, size_t n);

#endif
