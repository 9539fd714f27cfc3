/* rootwrite.c: the ROOT file writer (rootwrite.h).
 *
 * The whole file is assembled in one buffer: header space, the top
 * directory, then records in the order they are added (a directory's key
 * and record when the directory is first needed, a histogram's key and
 * payload), and at close the streamer infos, one keys list per directory,
 * the free segments record and the header. A directory's record is written
 * when the directory is made and completed at close, when its keys list is
 * known. Offsets are 32-bit (a "small" ROOT file; the writer refuses to go
 * past ROOT's small-file limit of 2000000000 bytes) unless the options ask
 * for ROOT's large layout: 64-bit offsets in the header, every key (version
 * + 1000) and every directory record (version + 1000), as ROOT writes past
 * 2 GB.
 *
 * The streamer infos are ROOT 6.28's descriptions of the classes a TH1D or
 * TH2D is made of, as ROOT itself writes them into such a file (class
 * versions, checksums, members with their types, sizes and comments): a
 * table below, serialised as a TList of TStreamerInfo with ROOT's class tags
 * (the first use of a class writes its name, later uses point back at it). */
#include "rootwrite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fileio.h"
#include "keytab.h"
#include "rootbuf.h"
#include "rootzip.h"

#define BEGIN 100u                 /* fBEGIN: the top directory's key */
#define FILE_VERSION 62806         /* ROOT 6.28/06; + 1000000 in the large layout */
#define SMALL_FILE_MAX 2000000000u /* ROOT's kStartBigFile */
#define DIR_RECORD 60              /* a TDirectory record, either layout */
#define KEY_VERSION 4              /* TKey; + 1000 with 64-bit offsets */
#define DIR_VERSION 5              /* TDirectory; + 1000 with 64-bit offsets */

/* ---- the streamer infos of TH1D and TH2D (ROOT 6.28) ----------------------------- */

typedef enum {
    EL_BASE,          /* TStreamerBase: a base class */
    EL_BASIC,         /* TStreamerBasicType: a number */
    EL_STRING,        /* TStreamerString: a TString */
    EL_OBJECT,        /* TStreamerObject: a TObject-derived member */
    EL_ANY,           /* TStreamerObjectAny: any other class member (TArrayD) */
    EL_POINTER,       /* TStreamerObjectPointer: a pointer to an object */
    EL_BASIC_POINTER, /* TStreamerBasicPointer: an array of numbers, length in a member */
} el_kind_t;

typedef struct {
    el_kind_t kind;
    const char *name, *title;
    int type, size;
    const char *type_name;
    uint32_t base_checksum; /* EL_BASE: kept in fMaxIndex[1], as ROOT does */
    int base_version;
    int count_version;      /* EL_BASIC_POINTER: the member holding the length */
    const char *count_name, *count_class;
} element_t;

#define N_OF(a) (sizeof(a) / sizeof *(a))
#define MEMBER(kind, name, title, type, size, type_name) \
    {kind, name, title, type, size, type_name, 0, 0, 0, NULL, NULL}
#define BASE(name, title, type, checksum, version) \
    {EL_BASE, name, title, type, 0, "BASE", checksum, version, 0, NULL, NULL}
#define ARRAY(name, title, type, size, type_name, count_version, count_name, count_class) \
    {EL_BASIC_POINTER, name, title, type, size, type_name, 0, 0, count_version, count_name, \
     count_class}

typedef struct {
    const char *name;
    int version;
    uint32_t checksum;
    const element_t *elements;
    size_t n;
} class_t;

static const element_t TObject_elements[] = {
    MEMBER(EL_BASIC, "fUniqueID", "object unique identifier", 13, 4, "unsigned int"),
    MEMBER(EL_BASIC, "fBits", "bit field status word", 15, 4, "unsigned int"),
};
static const element_t TAttLine_elements[] = {
    MEMBER(EL_BASIC, "fLineColor", "Line color", 2, 2, "short"),
    MEMBER(EL_BASIC, "fLineStyle", "Line style", 2, 2, "short"),
    MEMBER(EL_BASIC, "fLineWidth", "Line width", 2, 2, "short"),
};
static const element_t TAttFill_elements[] = {
    MEMBER(EL_BASIC, "fFillColor", "Fill area color", 2, 2, "short"),
    MEMBER(EL_BASIC, "fFillStyle", "Fill area style", 2, 2, "short"),
};
static const element_t TAttMarker_elements[] = {
    MEMBER(EL_BASIC, "fMarkerColor", "Marker color", 2, 2, "short"),
    MEMBER(EL_BASIC, "fMarkerStyle", "Marker style", 2, 2, "short"),
    MEMBER(EL_BASIC, "fMarkerSize", "Marker size", 5, 4, "float"),
};
static const element_t TAttAxis_elements[] = {
    MEMBER(EL_BASIC, "fNdivisions", "Number of divisions(10000*n3 + 100*n2 + n1)", 3, 4, "int"),
    MEMBER(EL_BASIC, "fAxisColor", "Color of the line axis", 2, 2, "short"),
    MEMBER(EL_BASIC, "fLabelColor", "Color of labels", 2, 2, "short"),
    MEMBER(EL_BASIC, "fLabelFont", "Font for labels", 2, 2, "short"),
    MEMBER(EL_BASIC, "fLabelOffset", "Offset of labels", 5, 4, "float"),
    MEMBER(EL_BASIC, "fLabelSize", "Size of labels", 5, 4, "float"),
    MEMBER(EL_BASIC, "fTickLength", "Length of tick marks", 5, 4, "float"),
    MEMBER(EL_BASIC, "fTitleOffset", "Offset of axis title", 5, 4, "float"),
    MEMBER(EL_BASIC, "fTitleSize", "Size of axis title", 5, 4, "float"),
    MEMBER(EL_BASIC, "fTitleColor", "Color of axis title", 2, 2, "short"),
    MEMBER(EL_BASIC, "fTitleFont", "Font for axis title", 2, 2, "short"),
};
static const element_t TAxis_elements[] = {
    BASE("TNamed", "The basis for a named object (name, title)", 67, 3753331260u, 1),
    BASE("TAttAxis", "Axis attributes", 0, 1550843710u, 4),
    MEMBER(EL_BASIC, "fNbins", "Number of bins", 3, 4, "int"),
    MEMBER(EL_BASIC, "fXmin", "Low edge of first bin", 8, 8, "double"),
    MEMBER(EL_BASIC, "fXmax", "Upper edge of last bin", 8, 8, "double"),
    MEMBER(EL_ANY, "fXbins", "Bin edges array in X", 62, 24, "TArrayD"),
    MEMBER(EL_BASIC, "fFirst", "First bin to display", 3, 4, "int"),
    MEMBER(EL_BASIC, "fLast", "Last bin to display", 3, 4, "int"),
    MEMBER(EL_BASIC, "fBits2", "Second bit status word", 12, 2, "unsigned short"),
    MEMBER(EL_BASIC, "fTimeDisplay", "On/off displaying time values instead of numerics",
          18, 1, "bool"),
    MEMBER(EL_STRING, "fTimeFormat", "Date&time format, ex: 09/12/99 12:34:00",
          65, 24, "TString"),
    MEMBER(EL_POINTER, "fLabels", "List of labels", 64, 8, "THashList*"),
    MEMBER(EL_POINTER, "fModLabs", "List of modified labels", 64, 8, "TList*"),
};
static const element_t TH1_elements[] = {
    BASE("TNamed", "The basis for a named object (name, title)", 67, 3753331260u, 1),
    BASE("TAttLine", "Line attributes", 0, 2483504457u, 2),
    BASE("TAttFill", "Fill area attributes", 0, 4292422290u, 2),
    BASE("TAttMarker", "Marker attributes", 0, 689802220u, 2),
    MEMBER(EL_BASIC, "fNcells", "Number of bins(1D), cells (2D) +U/Overflows", 3, 4, "int"),
    MEMBER(EL_OBJECT, "fXaxis", "X axis descriptor", 61, 216, "TAxis"),
    MEMBER(EL_OBJECT, "fYaxis", "Y axis descriptor", 61, 216, "TAxis"),
    MEMBER(EL_OBJECT, "fZaxis", "Z axis descriptor", 61, 216, "TAxis"),
    MEMBER(EL_BASIC, "fBarOffset", "(1000*offset) for bar charts or legos", 2, 2, "short"),
    MEMBER(EL_BASIC, "fBarWidth", "(1000*width) for bar charts or legos", 2, 2, "short"),
    MEMBER(EL_BASIC, "fEntries", "Number of entries", 8, 8, "double"),
    MEMBER(EL_BASIC, "fTsumw", "Total Sum of weights", 8, 8, "double"),
    MEMBER(EL_BASIC, "fTsumw2", "Total Sum of squares of weights", 8, 8, "double"),
    MEMBER(EL_BASIC, "fTsumwx", "Total Sum of weight*X", 8, 8, "double"),
    MEMBER(EL_BASIC, "fTsumwx2", "Total Sum of weight*X*X", 8, 8, "double"),
    MEMBER(EL_BASIC, "fMaximum", "Maximum value for plotting", 8, 8, "double"),
    MEMBER(EL_BASIC, "fMinimum", "Minimum value for plotting", 8, 8, "double"),
    MEMBER(EL_BASIC, "fNormFactor", "Normalization factor", 8, 8, "double"),
    MEMBER(EL_ANY, "fContour", "Array to display contour levels", 62, 24, "TArrayD"),
    MEMBER(EL_ANY, "fSumw2", "Array of sum of squares of weights", 62, 24, "TArrayD"),
    MEMBER(EL_STRING, "fOption", "Histogram options", 65, 24, "TString"),
    MEMBER(EL_POINTER, "fFunctions", "->Pointer to list of functions (fits and user)",
          63, 8, "TList*"),
    MEMBER(EL_BASIC, "fBufferSize", "fBuffer size", 6, 4, "int"),
    ARRAY("fBuffer", "[fBufferSize] entry buffer", 48, 8, "double*", 8, "fBufferSize", "TH1"),
    MEMBER(EL_BASIC, "fBinStatErrOpt", "Option for bin statistical errors",
          3, 4, "TH1::EBinErrorOpt"),
    MEMBER(EL_BASIC, "fStatOverflows", "Per object flag to use under/overflows in statistics",
          3, 4, "TH1::EStatOverflows"),
};
static const element_t TH1D_elements[] = {
    BASE("TH1", "1-Dim histogram base class", 0, 473383108u, 8),
    BASE("TArrayD", "Array of doubles", 0, 1899622196u, 1),
};
static const element_t TH2_elements[] = {
    BASE("TH1", "1-Dim histogram base class", 0, 473383108u, 8),
    MEMBER(EL_BASIC, "fScalefactor", "Scale factor", 8, 8, "double"),
    MEMBER(EL_BASIC, "fTsumwy", "Total Sum of weight*Y", 8, 8, "double"),
    MEMBER(EL_BASIC, "fTsumwy2", "Total Sum of weight*Y*Y", 8, 8, "double"),
    MEMBER(EL_BASIC, "fTsumwxy", "Total Sum of weight*X*Y", 8, 8, "double"),
};
static const element_t TH2D_elements[] = {
    BASE("TH2", "2-Dim histogram base class", 0, 25310335u, 5),
    BASE("TArrayD", "Array of doubles", 0, 1899622196u, 1),
};
static const element_t TCollection_elements[] = {
    BASE("TObject", "Basic ROOT object", 66, 2417737773u, 1),
    MEMBER(EL_STRING, "fName", "name of the collection", 65, 24, "TString"),
    MEMBER(EL_BASIC, "fSize", "number of elements in collection", 3, 4, "int"),
};
static const element_t TSeqCollection_elements[] = {
    BASE("TCollection", "Collection abstract base class", 0, 1474546588u, 3),
};
static const element_t TList_elements[] = {
    BASE("TSeqCollection", "Sequenceable collection ABC", 0, 4234951622u, 0),
};
static const element_t THashList_elements[] = {
    BASE("TList", "Doubly linked list", 0, 1774568379u, 5),
};
static const class_t classes[] = {
    {"TObject", 1, 2417737773u, TObject_elements, N_OF(TObject_elements)},
    {"TAttLine", 2, 2483504457u, TAttLine_elements, N_OF(TAttLine_elements)},
    {"TAttFill", 2, 4292422290u, TAttFill_elements, N_OF(TAttFill_elements)},
    {"TAttMarker", 2, 689802220u, TAttMarker_elements, N_OF(TAttMarker_elements)},
    {"TAttAxis", 4, 1550843710u, TAttAxis_elements, N_OF(TAttAxis_elements)},
    {"TAxis", 10, 1514761840u, TAxis_elements, N_OF(TAxis_elements)},
    {"TH1", 8, 473383108u, TH1_elements, N_OF(TH1_elements)},
    {"TH1D", 3, 4189148831u, TH1D_elements, N_OF(TH1D_elements)},
    {"TH2", 5, 25310335u, TH2_elements, N_OF(TH2_elements)},
    {"TH2D", 4, 2142929648u, TH2D_elements, N_OF(TH2D_elements)},
    {"TCollection", 3, 1474546588u, TCollection_elements, N_OF(TCollection_elements)},
    {"TSeqCollection", 0, 4234951622u, TSeqCollection_elements, N_OF(TSeqCollection_elements)},
    {"TList", 5, 1774568379u, TList_elements, N_OF(TList_elements)},
    {"THashList", 0, 3430828481u, THashList_elements, N_OF(THashList_elements)},
    {"TString", 2, 95257u, NULL, 0},
};

/* Writes objects with ROOT's class tags: the first object of a class writes
 * its name, later ones the tag of that first writing (kClassMask | offset,
 * offsets counted from the start of the key, as readers map them). */
typedef struct {
    dn_root_wbuf_t *w;
    size_t keylen;
    const char *names[16];
    uint32_t tags[16];
    int n;
} tagger_t;

static size_t begin_any(tagger_t *t, const char *cls)
{
    size_t count_at = t->w->len;
    dn_root_wbuf_u32(t->w, 0); /* byte count, patched by end_any */
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->names[i], cls)) {
            dn_root_wbuf_u32(t->w, t->tags[i] | DN_ROOT_CLASS_MASK);
            return count_at;
        }
    if (t->n < (int)N_OF(t->names)) {
        t->names[t->n] = cls;
        t->tags[t->n++] = (uint32_t)(t->keylen + t->w->len + DN_ROOT_MAP_OFFSET);
    }
    dn_root_wbuf_u32(t->w, DN_ROOT_NEW_CLASS_TAG);
    dn_root_wbuf_bytes(t->w, cls, strlen(cls) + 1);
    return count_at;
}

static void end_any(tagger_t *t, size_t count_at)
{
    dn_root_wbuf_end_object(t->w, count_at);
}

static void put_element(tagger_t *t, const element_t *e)
{
    static const char *const cls[] = {"TStreamerBase", "TStreamerBasicType", "TStreamerString",
                                      "TStreamerObject", "TStreamerObjectAny",
                                      "TStreamerObjectPointer", "TStreamerBasicPointer"};
    dn_root_wbuf_t *w = t->w;
    size_t any = begin_any(t, cls[e->kind]);
    size_t outer = dn_root_wbuf_begin_object(w, e->kind == EL_BASE ? 3 : 2);
    size_t el = dn_root_wbuf_begin_object(w, 4); /* TStreamerElement */
    dn_root_wbuf_tnamed(w, e->name, e->title);
    dn_root_wbuf_u32(w, (uint32_t)e->type);
    dn_root_wbuf_u32(w, (uint32_t)e->size);
    dn_root_wbuf_u32(w, 0); /* fArrayLength */
    dn_root_wbuf_u32(w, 0); /* fArrayDim */
    for (int k = 0; k < 5; k++) /* fMaxIndex */
        dn_root_wbuf_u32(w, k == 1 && e->kind == EL_BASE ? e->base_checksum : 0);
    dn_root_wbuf_tstring(w, e->type_name);
    dn_root_wbuf_end_object(w, el);
    if (e->kind == EL_BASE)
        dn_root_wbuf_u32(w, (uint32_t)e->base_version);
    if (e->kind == EL_BASIC_POINTER) {
        dn_root_wbuf_u32(w, (uint32_t)e->count_version);
        dn_root_wbuf_tstring(w, e->count_name);
        dn_root_wbuf_tstring(w, e->count_class);
    }
    dn_root_wbuf_end_object(w, outer);
    end_any(t, any);
}

/* The StreamerInfo payload: a TList of one TStreamerInfo per class. */
static void put_streamer_infos(dn_root_wbuf_t *w, size_t keylen)
{
    tagger_t t = {.w = w, .keylen = keylen};
    size_t list = dn_root_wbuf_begin_object(w, 5);
    dn_root_wbuf_tobject(w, 0x02000000u);
    dn_root_wbuf_tstring(w, "");
    dn_root_wbuf_u32(w, (uint32_t)N_OF(classes));
    for (size_t c = 0; c < N_OF(classes); c++) {
        size_t any = begin_any(&t, "TStreamerInfo");
        size_t info = dn_root_wbuf_begin_object(w, 9);
        dn_root_wbuf_tnamed(w, classes[c].name, "");
        dn_root_wbuf_u32(w, classes[c].checksum);
        dn_root_wbuf_u32(w, (uint32_t)classes[c].version);
        size_t arr_any = begin_any(&t, "TObjArray");
        size_t arr = dn_root_wbuf_begin_object(w, 3);
        dn_root_wbuf_tobject(w, 0x02000000u);
        dn_root_wbuf_tstring(w, "");
        dn_root_wbuf_u32(w, (uint32_t)classes[c].n);
        dn_root_wbuf_u32(w, 0); /* fLowerBound */
        for (size_t e = 0; e < classes[c].n; e++)
            put_element(&t, &classes[c].elements[e]);
        dn_root_wbuf_end_object(w, arr);
        end_any(&t, arr_any);
        dn_root_wbuf_end_object(w, info);
        end_any(&t, any);
        dn_root_wbuf_u8(w, 0); /* the list's option string for this entry: "" */
    }
    dn_root_wbuf_end_object(w, list);
}

/* ---- the file ------------------------------------------------------------------------ */

typedef struct {
    char *name;          /* "" for the top */
    int parent;          /* index in dirs, -1 for the top */
    uint64_t key_at;     /* fSeekDir: the directory's key record */
    uint64_t record_at;  /* its TDirectory record */
    uint32_t nbytes_name;
    dn_root_wbuf_t keys;      /* the key headers of its keys list */
    int n_keys;
} dir_t;

struct dn_root_writer_t {
    char *path;
    const char *file_name; /* inside path: its last component */
    char *title;
    int compression;
    int large;             /* 64-bit offsets */
    int unsynced;          /* commit without fsync */
    uint32_t datime;
    unsigned char uuid[16];
    dn_root_wbuf_t file;
    dn_root_wbuf_t payload;     /* scratch: one object before compression */
    dn_root_wbuf_t stored;      /* scratch: the same, compressed */
    dir_t *dirs;
    int n_dirs, cap_dirs;
    dn_keytab_t *dir_paths; /* "a/b" -> index in dirs (the top is "") */
    dn_keytab_t *names;     /* "<dir index>/<name>" -> index in cycles */
    int *cycles;
    int cap_cycles;
};

/* ROOT's TDatime: seconds packed from 1995 on (UTC here, so that a fixed
 * time gives the same bytes anywhere). */
static uint32_t datime(int64_t unix_s)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    int year = tm.tm_year + 1900 < 1995 ? 1995 : tm.tm_year + 1900;
    return (uint32_t)(year - 1995) << 26 | (uint32_t)(tm.tm_mon + 1) << 22 |
           (uint32_t)tm.tm_mday << 17 | (uint32_t)tm.tm_hour << 12 | (uint32_t)tm.tm_min << 6 |
           (uint32_t)tm.tm_sec;
}

static size_t tstring_len(const char *s)
{
    size_t n = strlen(s);
    return n + (n < 255 ? 1 : 5);
}

static size_t key_len(const dn_root_writer_t *w, const char *cls, const char *name,
                      const char *title)
{
    return 26 + (w->large ? 8 : 0) + tstring_len(cls) + tstring_len(name) + tstring_len(title);
}

/* An offset of the file: 4 or 8 bytes by the layout. */
static void put_offset(const dn_root_writer_t *w, dn_root_wbuf_t *out, uint64_t v)
{
    if (w->large)
        dn_root_wbuf_u64(out, v);
    else
        dn_root_wbuf_u32(out, (uint32_t)v);
}

static void put_key(dn_root_writer_t *w, dn_root_wbuf_t *out, size_t nbytes, size_t objlen,
                    size_t keylen, int cycle, uint64_t seek, uint64_t pdir, const char *cls,
                    const char *name, const char *title)
{
    dn_root_wbuf_u32(out, (uint32_t)nbytes);
    dn_root_wbuf_u16(out, KEY_VERSION + (w->large ? 1000 : 0));
    dn_root_wbuf_u32(out, (uint32_t)objlen);
    dn_root_wbuf_u32(out, w->datime);
    dn_root_wbuf_u16(out, (uint16_t)keylen);
    dn_root_wbuf_u16(out, (uint16_t)cycle);
    put_offset(w, out, seek);
    put_offset(w, out, pdir);
    dn_root_wbuf_tstring(out, cls);
    dn_root_wbuf_tstring(out, name);
    dn_root_wbuf_tstring(out, title);
}

static int room_for(const dn_root_writer_t *w, size_t n, dn_err_t *err)
{
    if (w->large ? n > INT32_MAX : (n > SMALL_FILE_MAX || w->file.len > SMALL_FILE_MAX - n))
        return dn_err_set(err, DN_ERANGE, "%s: a record of %zu bytes %s", w->path, n,
                          w->large ? "is beyond a key's 32-bit length"
                                   : "would take the file past ROOT's small-file limit");
    return DN_OK;
}

/* Appends a record (key and payload[len], compressed when it helps) to the
 * file; in directory d's keys list unless listed is 0. *at gets its offset. */
static int put_record(dn_root_writer_t *w, int d, const char *cls, const char *name,
                      const char *title, int cycle, const unsigned char *payload, size_t len,
                      int compress, int listed, uint64_t *at, dn_err_t *err)
{
    w->stored.len = 0;
    int rc = dn_rootzip_deflate(compress ? w->compression : 0, payload, len, &w->stored, NULL,
                                err);
    if (rc)
        return rc;
    size_t keylen = key_len(w, cls, name, title), nbytes = keylen + w->stored.len;
    if ((rc = room_for(w, nbytes, err)))
        return rc;
    uint64_t seek = w->file.len;
    put_key(w, &w->file, nbytes, len, keylen, cycle, seek, w->dirs[d].key_at, cls, name, title);
    dn_root_wbuf_bytes(&w->file, w->stored.data, w->stored.len);
    if (listed) {
        dn_root_wbuf_bytes(&w->dirs[d].keys, w->file.data + seek, keylen);
        w->dirs[d].n_keys++;
    }
    if (!dn_root_wbuf_ok(&w->file) || !dn_root_wbuf_ok(&w->dirs[d].keys))
        return dn_err_set(err, DN_ENOMEM, "%s: out of memory", w->path);
    if (at)
        *at = seek;
    return DN_OK;
}

/* A TDirectory record, offsets to be completed at close. */
static void put_dir_record(dn_root_writer_t *w, dn_root_wbuf_t *out, const dir_t *d,
                           uint32_t nbytes_keys, uint64_t seek_keys)
{
    dn_root_wbuf_u16(out, DIR_VERSION + (w->large ? 1000 : 0));
    dn_root_wbuf_u32(out, w->datime); /* fDatimeC */
    dn_root_wbuf_u32(out, w->datime); /* fDatimeM */
    dn_root_wbuf_u32(out, nbytes_keys);
    dn_root_wbuf_u32(out, d->nbytes_name);
    put_offset(w, out, d->key_at);
    put_offset(w, out, d->parent < 0 ? 0 : w->dirs[d->parent].key_at);
    put_offset(w, out, seek_keys);
    dn_root_wbuf_u16(out, 1); /* fUUID: version, then 16 bytes */
    dn_root_wbuf_bytes(out, w->uuid, sizeof w->uuid);
    for (int k = 0; !w->large && k < 3; k++) /* room ROOT keeps for 64-bit offsets */
        dn_root_wbuf_u32(out, 0);
}

static int add_dir(dn_root_writer_t *w, const char *name, int parent)
{
    if (w->n_dirs == w->cap_dirs) {
        int cap = w->cap_dirs ? 2 * w->cap_dirs : 8;
        dir_t *grown = realloc(w->dirs, (size_t)cap * sizeof *grown);
        if (!grown)
            return DN_ENOMEM;
        w->dirs = grown;
        w->cap_dirs = cap;
    }
    dir_t *d = &w->dirs[w->n_dirs];
    memset(d, 0, sizeof *d);
    dn_root_wbuf_init(&d->keys);
    d->parent = parent;
    if (!(d->name = strdup(name)))
        return DN_ENOMEM;
    return w->n_dirs++;
}

/* "<dir index>/<name>": the key of a name's cycle count. */
static int name_slot(dn_root_writer_t *w, int d, const char *name, int *created)
{
    char stack[256], *key = stack;
    size_t need = strlen(name) + 16;
    if (need > sizeof stack && !(key = malloc(need)))
        return DN_ENOMEM;
    snprintf(key, need, "%d/%s", d, name);
    int before = dn_keytab_count(w->names);
    int i = dn_keytab_add(w->names, key);
    if (key != stack)
        free(key);
    if (i < 0)
        return DN_ENOMEM;
    *created = dn_keytab_count(w->names) > before;
    if (i >= w->cap_cycles) {
        int cap = w->cap_cycles ? 2 * w->cap_cycles : 64;
        int *grown = realloc(w->cycles, (size_t)cap * sizeof *grown);
        if (!grown)
            return DN_ENOMEM;
        w->cycles = grown;
        w->cap_cycles = cap;
    }
    if (*created)
        w->cycles[i] = 0;
    return i;
}

static int bad_name(const char *s, int slash_ok)
{
    return !*s || strchr(s, ';') || (!slash_ok && strchr(s, '/'));
}

/* The index of directory `path` ("a/b"), made with its parents as needed. */
static int get_dir(dn_root_writer_t *w, const char *path, dn_err_t *err)
{
    int d = dn_keytab_find(w->dir_paths, path);
    if (d >= 0)
        return d;
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    int parent = 0;
    if (slash) {
        char *up = strndup(path, (size_t)(slash - path));
        if (!up)
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        parent = get_dir(w, up, err);
        free(up);
        if (parent < 0)
            return parent;
    }
    if (!*name || strchr(name, ';'))
        return dn_err_set(err, DN_EINVAL, "%s: directory \"%s\": empty name or ';' in it",
                          w->path, path);
    int created, slot = name_slot(w, parent, name, &created);
    if (slot < 0)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    if (!created)
        return dn_err_set(err, DN_EINVAL, "%s: \"%s\" is a histogram, not a directory", w->path,
                          path);
    w->cycles[slot] = -1; /* a directory */
    size_t keylen = key_len(w, "TDirectory", name, "");
    int rc = room_for(w, keylen + DIR_RECORD, err);
    if (rc)
        return rc;
    if ((d = add_dir(w, name, parent)) < 0 || dn_keytab_add(w->dir_paths, path) != d)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    dir_t *dir = &w->dirs[d];
    dir->key_at = w->file.len;
    dir->record_at = dir->key_at + keylen;
    dir->nbytes_name = (uint32_t)keylen;
    put_key(w, &w->file, keylen + DIR_RECORD, DIR_RECORD, keylen, 1, dir->key_at,
            w->dirs[parent].key_at, "TDirectory", name, "");
    put_dir_record(w, &w->file, dir, 0, 0); /* completed at close */
    dn_root_wbuf_bytes(&w->dirs[parent].keys, w->file.data + dir->key_at, keylen);
    w->dirs[parent].n_keys++;
    if (!dn_root_wbuf_ok(&w->file) || !dn_root_wbuf_ok(&w->dirs[parent].keys))
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    return d;
}

void dn_root_writer_abort(dn_root_writer_t **w_p)
{
    if (!w_p || !*w_p)
        return;
    dn_root_writer_t *w = *w_p;
    for (int i = 0; i < w->n_dirs; i++) {
        free(w->dirs[i].name);
        dn_root_wbuf_free(&w->dirs[i].keys);
    }
    free(w->dirs);
    dn_keytab_destroy(&w->dir_paths);
    dn_keytab_destroy(&w->names);
    free(w->cycles);
    dn_root_wbuf_free(&w->file);
    dn_root_wbuf_free(&w->payload);
    dn_root_wbuf_free(&w->stored);
    free(w->title);
    free(w->path);
    free(w);
    *w_p = NULL;
}

int dn_root_writer_open(const char *path, const dn_root_write_opts_t *opts,
                        dn_root_writer_t **out, dn_err_t *err)
{
    *out = NULL;
    dn_root_write_opts_t o = {.compression = 101};
    if (opts)
        o = *opts;
    int algo = o.compression / 100, level = o.compression % 100;
    if (!path || !*path)
        return dn_err_set(err, DN_EINVAL, "no path for the ROOT file");
    if (o.compression != 0 && (o.compression < 0 || level < 1 || level > 9 ||
                               (algo != 1 && algo != 2 && algo != 4 && algo != 5)))
        return dn_err_set(err, DN_EINVAL, "%s: compression setting %d: expected 0 or algorithm "
                          "* 100 + level 1..9, algorithm 1 (zlib), 2 (LZMA), 4 (LZ4) or 5 "
                          "(ZSTD)", path, o.compression);
    dn_root_writer_t *w = calloc(1, sizeof *w);
    if (!w)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    w->path = strdup(path);
    w->title = strdup(o.title ? o.title : "");
    w->dir_paths = dn_keytab_new();
    w->names = dn_keytab_new();
    w->compression = o.compression;
    w->large = o.large;
    w->unsynced = o.unsynced;
    int64_t now = o.time ? o.time : (int64_t)time(NULL);
    const char *slash = w->path ? strrchr(w->path, '/') : NULL;
    w->file_name = slash ? slash + 1 : w->path;
    w->datime = datime(now);
    if (!w->path || !w->title || !w->dir_paths || !w->names || add_dir(w, "", -1) != 0 ||
        dn_keytab_add(w->dir_paths, "") != 0) {
        dn_root_writer_abort(&w);
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    /* a UUID that depends on the file's name and the time only (reproducible) */
    for (int half = 0; half < 2; half++) {
        uint64_t h = dn_xxh64(w->file_name, strlen(w->file_name),
                              (uint64_t)now + (uint64_t)half);
        for (int k = 0; k < 8; k++)
            w->uuid[8 * half + k] = (unsigned char)(h >> (8 * k));
    }
    /* header space, then the top directory: its key, name, title, record */
    dn_root_wbuf_grow(&w->file, BEGIN);
    if (w->file.data)
        memset(w->file.data, 0, BEGIN);
    dir_t *top = &w->dirs[0];
    size_t keylen = key_len(w, "TFile", w->file_name, w->title);
    top->key_at = BEGIN;
    top->nbytes_name = (uint32_t)(keylen + tstring_len(w->file_name) + tstring_len(w->title));
    top->record_at = BEGIN + top->nbytes_name;
    size_t nbytes = top->nbytes_name + DIR_RECORD;
    put_key(w, &w->file, nbytes, nbytes - keylen, keylen, 1, BEGIN, 0, "TFile", w->file_name,
            w->title);
    dn_root_wbuf_tstring(&w->file, w->file_name);
    dn_root_wbuf_tstring(&w->file, w->title);
    put_dir_record(w, &w->file, top, 0, 0);
    if (!dn_root_wbuf_ok(&w->file)) {
        dn_root_writer_abort(&w);
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    *out = w;
    return DN_OK;
}

int dn_root_writer_add(dn_root_writer_t *w, const char *dir, const dn_root_hist_t *h,
                       dn_err_t *err)
{
    if (!w || !h || !h->name || bad_name(h->name, 0))
        return dn_err_set(err, DN_EINVAL, "%s: a histogram needs a name without '/' or ';' "
                          "(\"%s\")", w ? w->path : "", h && h->name ? h->name : "");
    if (dir && *dir && (bad_name(dir, 1) || dir[0] == '/' || dir[strlen(dir) - 1] == '/' ||
                        strstr(dir, "//")))
        return dn_err_set(err, DN_EINVAL, "%s: directory \"%s\": empty parts or ';' in it",
                          w->path, dir);
    int d = get_dir(w, dir ? dir : "", err);
    if (d < 0)
        return d;
    int created, slot = name_slot(w, d, h->name, &created);
    if (slot < 0)
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    if (w->cycles[slot] < 0)
        return dn_err_set(err, DN_EINVAL, "%s: \"%s\" in \"%s\" is a directory", w->path,
                          h->name, dir ? dir : "");
    w->payload.len = 0;
    int rc = dn_root_hist_encode(h, &w->payload, err);
    if (rc)
        return dn_err_prefix(err, "%s: histogram \"%s\"", w->path, h->name);
    rc = put_record(w, d, h->dim == 1 ? "TH1D" : "TH2D", h->name, h->title ? h->title : "",
                    w->cycles[slot] + 1, w->payload.data, w->payload.len, 1, 1, NULL, err);
    if (rc == DN_OK)
        w->cycles[slot]++;
    return rc;
}

/* Keys lists, streamer infos, free segments, header: the file complete. */
static int finish(dn_root_writer_t *w, uint64_t *end, dn_err_t *err)
{
    uint64_t seek_info, at, seek_free;
    w->payload.len = 0;
    put_streamer_infos(&w->payload, key_len(w, "TList", "StreamerInfo", "Doubly linked list"));
    int rc = put_record(w, 0, "TList", "StreamerInfo", "Doubly linked list", 1,
                        w->payload.data, w->payload.len, 1, 0, &seek_info, err);
    if (rc)
        return rc;
    uint32_t nbytes_info = (uint32_t)(w->file.len - seek_info);
    for (int d = 0; d < w->n_dirs; d++) {
        dir_t *dir = &w->dirs[d];
        w->payload.len = 0;
        dn_root_wbuf_u32(&w->payload, (uint32_t)dir->n_keys);
        dn_root_wbuf_bytes(&w->payload, dir->keys.data, dir->keys.len);
        if (!dn_root_wbuf_ok(&w->payload))
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        rc = put_record(w, d, d ? "TDirectory" : "TFile", d ? dir->name : w->file_name,
                        d ? "" : w->title, 1, w->payload.data, w->payload.len, 0, 0, &at, err);
        if (rc)
            return rc;
        dn_root_wbuf_t rec;
        dn_root_wbuf_init(&rec);
        put_dir_record(w, &rec, dir, (uint32_t)(w->file.len - at), at);
        if (!dn_root_wbuf_ok(&rec))
            return dn_err_set(err, DN_ENOMEM, "out of memory");
        memcpy(w->file.data + dir->record_at, rec.data, rec.len);
        dn_root_wbuf_free(&rec);
    }
    /* One free segment, from the end of the file to ROOT's small-file limit. */
    size_t free_len = w->large ? 18 : 10, free_keylen = key_len(w, "TFile", w->file_name,
                                                                 w->title);
    w->payload.len = 0;
    dn_root_wbuf_u16(&w->payload, w->large ? 1001 : 1);
    put_offset(w, &w->payload, w->file.len + free_keylen + free_len); /* fFirst */
    put_offset(w, &w->payload, w->large ? (uint64_t)1 << 62 : SMALL_FILE_MAX); /* fLast */
    if ((rc = put_record(w, 0, "TFile", w->file_name, w->title, 1, w->payload.data,
                         w->payload.len, 0, 0, &seek_free, err)))
        return rc;
    *end = w->file.len;
    dn_root_wbuf_t head;
    dn_root_wbuf_init(&head);
    dn_root_wbuf_bytes(&head, "root", 4);
    dn_root_wbuf_u32(&head, FILE_VERSION + (w->large ? 1000000 : 0));
    dn_root_wbuf_u32(&head, BEGIN);
    put_offset(w, &head, *end);
    put_offset(w, &head, seek_free);
    dn_root_wbuf_u32(&head, (uint32_t)(*end - seek_free)); /* fNbytesFree */
    dn_root_wbuf_u32(&head, 1);                            /* nfree */
    dn_root_wbuf_u32(&head, w->dirs[0].nbytes_name);
    dn_root_wbuf_u8(&head, w->large ? 8 : 4);              /* fUnits: bytes of an offset */
    dn_root_wbuf_u32(&head, (uint32_t)w->compression);
    put_offset(w, &head, seek_info);
    dn_root_wbuf_u32(&head, nbytes_info);
    dn_root_wbuf_u16(&head, 1);                /* fUUID */
    dn_root_wbuf_bytes(&head, w->uuid, sizeof w->uuid);
    if (!dn_root_wbuf_ok(&head) || head.len > BEGIN) {
        dn_root_wbuf_free(&head);
        return dn_err_set(err, DN_ENOMEM, "out of memory");
    }
    memcpy(w->file.data, head.data, head.len);
    dn_root_wbuf_free(&head);
    return DN_OK;
}

int dn_root_writer_close(dn_root_writer_t **w_p, dn_err_t *err)
{
    if (!w_p || !*w_p)
        return dn_err_set(err, DN_EINVAL, "no ROOT writer to close");
    dn_root_writer_t *w = *w_p;
    dn_outfile_t *out = NULL;
    uint64_t end = 0;
    int rc = finish(w, &end, err);
    if (rc)
        goto done;
    if (!(out = dn_outfile_open(w->path, err))) {
        rc = err ? err->code : DN_EIO;
        goto done;
    }
    if (fwrite(w->file.data, 1, end, dn_outfile_stream(out)) != end) {
        rc = dn_err_set(err, DN_EIO, "%s: %s", w->path, strerror(errno));
        goto done;
    }
    rc = w->unsynced ? dn_outfile_commit_unsynced(&out, err) : dn_outfile_commit(&out, err);
done:
    dn_outfile_abort(&out);
    dn_root_writer_abort(w_p);
    return rc;
}
