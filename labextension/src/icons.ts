/** Datalab's icons, drawn with JupyterLab's icon classes so that they follow the theme (light or dark). */

import { LabIcon } from '@jupyterlab/ui-components';

const connectionSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 3C7.6 3 4 4.3 4 6v12c0 1.7 3.6 3 8 3s8-1.3 8-3V6c0-1.7-3.6-3-8-3zm0 2c3.9 0 6 1.1 6 1.5S15.9 8 12 8 6 6.9 6 6.5 8.1 5 12 5zM6 8.9C7.5 9.6 9.6 10 12 10s4.5-.4 6-1.1V12c0 .4-2.1 1.5-6 1.5S6 12.4 6 12V8.9zm0 5.5c1.5.7 3.6 1.1 6 1.1s4.5-.4 6-1.1V18c0 .4-2.1 1.5-6 1.5S6 18.4 6 18v-3.6z"/>
  </g>
</svg>`;

const keySvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M7 14a2 2 0 1 1 0-4 2 2 0 0 1 0 4zm5.6-4A6 6 0 1 0 12.6 14H16v3h3v-3h2v-4h-8.4z"/>
  </g>
</svg>`;

export const connectionIcon = new LabIcon({ name: 'datalab:connection', svgstr: connectionSvg });
export const keyIcon = new LabIcon({ name: 'datalab:key', svgstr: keySvg });
