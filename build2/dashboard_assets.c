#include "dashboard.h"
extern const unsigned char dash_app_css[];
extern const size_t dash_app_css_len;
extern const unsigned char dash_app_js[];
extern const size_t dash_app_js_len;
extern const unsigned char dash_index_html[];
extern const size_t dash_index_html_len;
extern const unsigned char dash_uPlot_iife_min_js[];
extern const size_t dash_uPlot_iife_min_js_len;
extern const unsigned char dash_uPlot_min_css[];
extern const size_t dash_uPlot_min_css_len;
const struct dashboard_asset dashboard_assets[] = {
    {"app.css", dash_app_css, &dash_app_css_len},
    {"app.js", dash_app_js, &dash_app_js_len},
    {"index.html", dash_index_html, &dash_index_html_len},
    {"uPlot.iife.min.js", dash_uPlot_iife_min_js, &dash_uPlot_iife_min_js_len},
    {"uPlot.min.css", dash_uPlot_min_css, &dash_uPlot_min_css_len},
    {0, 0, 0}};
