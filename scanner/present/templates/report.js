// The host table's sorting. A click on a header sorts by that column (again: reverse);
// `#sort=COLUMN` or `#sort=COLUMN-desc` in the address sorts the host table on load. Cells sort
// by data-sort when present, numerically when both values are numbers. Allowed by its hash in
// the page's Content-Security-Policy (scanner/present/html.py computes it).
(function(){
function val(row,i){var c=row.cells[i];if(!c)return '';var v=c.getAttribute('data-sort');
return v===null?c.textContent.trim().toLowerCase():v;}
function cmp(a,b){var x=parseFloat(a),y=parseFloat(b);
if(a!==''&&b!==''&&isFinite(a)&&isFinite(b))return x-y;return a<b?-1:a>b?1:0;}
function sortTable(t,i,desc){var body=t.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(p,q){var r=cmp(val(p,i),val(q,i));return desc?-r:r;});
rows.forEach(function(r){body.appendChild(r);});
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h,j){
if(j===i)h.setAttribute('aria-sort',desc?'descending':'ascending');
else h.removeAttribute('aria-sort');});}
Array.prototype.forEach.call(document.querySelectorAll('table.sortable'),function(t){
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h,i){h.addEventListener('click',function(){
sortTable(t,i,h.getAttribute('aria-sort')==='ascending');});});});
var m=/^#sort=([A-Za-z0-9_]+?)(-desc)?$/.exec(location.hash);var t=document.getElementById('hosts');
if(m&&t){Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h,i){
if(h.getAttribute('data-col')===m[1])sortTable(t,i,!!m[2]);});}
document.body.setAttribute('data-sortable','ready');})();
