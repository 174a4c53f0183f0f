#include "common/http_field.h"

bool cg_http_field_hop_by_hop(struct cg_str name)
{
    switch (name.len) {
    case 2:
        return cg_str_case_eq(name, CG_STR_LIT("te"));
    case 7:
        return cg_str_case_eq(name, CG_STR_LIT("upgrade")) ||
               cg_str_case_eq(name, CG_STR_LIT("trailer"));
    case 10:
        return cg_str_case_eq(name, CG_STR_LIT("connection")) ||
               cg_str_case_eq(name, CG_STR_LIT("keep-alive"));
    case 16:
        return cg_str_case_eq(name, CG_STR_LIT("proxy-connection"));
    case 17:
        return cg_str_case_eq(name, CG_STR_LIT("transfer-encoding"));
    case 18:
        return cg_str_case_eq(name, CG_STR_LIT("proxy-authenticate"));
    case 19:
        return cg_str_case_eq(name, CG_STR_LIT("proxy-authorization"));
    default:
        return false;
    }
}
