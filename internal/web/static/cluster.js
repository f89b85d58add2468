'use strict';
window.tscluster = { draw() {} };
