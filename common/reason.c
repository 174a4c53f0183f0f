#include "common/reason.h"

#define CG_REASON_TEXT_(name, text) text,
static const char *const names[] = {CG_REASONS(CG_REASON_TEXT_)};
#undef CG_REASON_TEXT_

const char *cg_reason_str(enum cg_reason r)
{
    return (unsigned)r < CG_REASON_COUNT ? names[r] : "unknown";
}
