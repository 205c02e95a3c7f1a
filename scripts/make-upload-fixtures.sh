#!/bin/sh
# Writes the upload test fixtures in data/testdata/uploads/ with GDAL
# (Debian's gdal-bin) from the bundled data: the central city's districts
# and the county-level cities, as GIS staff would hand them over.
#   districts_4549_gbk.zip     Shapefile, CGCS2000 3-degree GK CM 120E, GBK attributes, with .cpg
#   districts_4549_gbk_nocpg.zip  the same without .cpg (encoding must be detected)
#   districts_4490_utf8.zip    Shapefile, CGCS2000 geographic, .cpg = UTF-8
#   districts_4528.gpkg        GeoPackage, CGCS2000 3-degree GK zone 40
# The outputs are committed; rerun after changing data/suzhou.
set -eu
cd "$(dirname "$0")/.."
command -v ogr2ogr >/dev/null || { echo "needs ogr2ogr: apt-get install gdal-bin" >&2; exit 1; }
out=data/testdata/uploads
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=data/suzhou/town_system.geojson
sql="SELECT code, name_zh AS name, name_en, level, geometry FROM town_system WHERE level <> 'town'"

ogr2ogr -f "ESRI Shapefile" "$tmp/gbk" "$src" -nln districts -dialect sqlite -sql "$sql" \
	-s_srs EPSG:4326 -t_srs EPSG:4549 -lco ENCODING=GBK
(cd "$tmp/gbk" && rm -f "$OLDPWD/$out/districts_4549_gbk.zip" && zip -q -X "$OLDPWD/$out/districts_4549_gbk.zip" districts.*)
rm "$tmp/gbk/districts.cpg"
(cd "$tmp/gbk" && rm -f "$OLDPWD/$out/districts_4549_gbk_nocpg.zip" && zip -q -X "$OLDPWD/$out/districts_4549_gbk_nocpg.zip" districts.*)

ogr2ogr -f "ESRI Shapefile" "$tmp/utf8" "$src" -nln districts -dialect sqlite -sql "$sql" \
	-s_srs EPSG:4326 -t_srs EPSG:4490 -lco ENCODING=UTF-8
(cd "$tmp/utf8" && rm -f "$OLDPWD/$out/districts_4490_utf8.zip" && zip -q -X "$OLDPWD/$out/districts_4490_utf8.zip" districts.*)

rm -f "$out/districts_4528.gpkg"
ogr2ogr -f GPKG "$out/districts_4528.gpkg" "$src" -nln districts -dialect sqlite -sql "$sql" \
	-s_srs EPSG:4326 -t_srs EPSG:4528
ls -l "$out"
