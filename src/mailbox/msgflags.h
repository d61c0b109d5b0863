/*
 * msgflags.h — system flags of a message, as bits.
 *
 * Keywords ($Forwarded, Junk, ...) are names; a mailbox file maps at most
 * IMAP_KEYWORDS_MAX of them to bits of a 64-bit mask per message. \Recent is not
 * stored per message: it is a property of a session (RFC 3501 2.3.2).
 */
#ifndef SEALBOX_MSGFLAGS_H
#define SEALBOX_MSGFLAGS_H

#define MSG_FLAG_SEEN      0x01u
#define MSG_FLAG_ANSWERED  0x02u
#define MSG_FLAG_FLAGGED   0x04u
#define MSG_FLAG_DELETED   0x08u
#define MSG_FLAG_DRAFT     0x10u
#define MSG_FLAG_ALL       0x1fu

#endif
