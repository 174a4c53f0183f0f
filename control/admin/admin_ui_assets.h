/* The admin console's files (control/admin/ui/), compiled into the binary by
 * cmake/embed_assets.cmake at build time: nothing is read from disk or fetched at run
 * time. Served by control/admin/admin_ui.c. */
#ifndef CG_CONTROL_ADMIN_ADMIN_UI_ASSETS_H
#define CG_CONTROL_ADMIN_ADMIN_UI_ASSETS_H

#include <stddef.h>

/* struct admin_ui_asset is one file of control/admin/ui. */
struct admin_ui_asset {
    const char *name;          /* file name, "index.html" */
    const char *content_type;  /* from the extension */
    const unsigned char *data; /* len bytes (plus a NUL not counted) */
    size_t len;
};

/* admin_ui_assets lists every file, sorted by name; admin_ui_num_assets counts them. */
extern const struct admin_ui_asset admin_ui_assets[];
extern const size_t admin_ui_num_assets;

#endif
