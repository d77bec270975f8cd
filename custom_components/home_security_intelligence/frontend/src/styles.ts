import { css } from "lit";

// Home Assistant's theme variables throughout, so the card follows light, dark and custom themes.
export const cardStyles = css`
  :host {
    display: block;
  }
  ha-card {
    overflow: hidden;
    padding-bottom: 8px;
  }
  .header {
    display: flex;
    align-items: center;
    justify-content: space-between;
    padding: 12px 16px 4px;
    font-size: 1.2em;
    font-weight: 500;
  }
  .badge {
    font-size: 0.75em;
    border-radius: 12px;
    padding: 2px 10px;
    color: #fff;
    background: var(--error-color, #db4437);
  }
  .cameras {
    display: flex;
    gap: 8px;
    overflow-x: auto;
    padding: 8px 16px;
    scroll-snap-type: x mandatory;
  }
  .camera {
    flex: 0 0 180px;
    scroll-snap-align: start;
    border-radius: 8px;
    overflow: hidden;
    background: var(--secondary-background-color);
    position: relative;
    cursor: pointer;
  }
  .camera img {
    display: block;
    width: 100%;
    aspect-ratio: 4 / 3;
    object-fit: cover;
    background: #000;
  }
  .camera .info {
    display: flex;
    align-items: center;
    gap: 6px;
    padding: 6px 8px;
    font-size: 0.9em;
  }
  .camera .name {
    flex: 1;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .camera.selected {
    outline: 2px solid var(--primary-color);
  }
  .dot {
    width: 8px;
    height: 8px;
    border-radius: 50%;
    flex: none;
  }
  .chip {
    font-size: 0.75em;
    border-radius: 10px;
    padding: 1px 8px;
    color: #fff;
    white-space: nowrap;
  }
  .zones-button {
    position: absolute;
    top: 6px;
    right: 6px;
    border: none;
    border-radius: 14px;
    padding: 3px 10px;
    font: inherit;
    font-size: 0.8em;
    background: rgba(0, 0, 0, 0.6);
    color: #fff;
    cursor: pointer;
  }
  .section-title {
    padding: 8px 16px 4px;
    font-weight: 500;
    color: var(--secondary-text-color);
  }
  .alert {
    display: flex;
    flex-wrap: wrap;
    gap: 8px 10px;
    align-items: center;
    margin: 4px 16px;
    padding: 6px;
    border-radius: 8px;
    border-left: 4px solid;
    background: var(--secondary-background-color);
  }
  .alert img {
    width: 64px;
    height: 48px;
    object-fit: cover;
    border-radius: 4px;
    flex: none;
  }
  .alert .text {
    flex: 1 1 160px;
    min-width: 0;
    font-size: 0.9em;
  }
  .actions {
    display: flex;
    gap: 6px;
    flex-wrap: wrap;
  }
  button.action {
    border: 1px solid var(--divider-color);
    border-radius: 6px;
    padding: 6px 10px;
    font: inherit;
    font-size: 0.85em;
    background: var(--card-background-color);
    color: var(--primary-text-color);
    cursor: pointer;
  }
  button.action.primary {
    background: var(--primary-color);
    border-color: var(--primary-color);
    color: var(--text-primary-color, #fff);
  }
  button.action:disabled {
    opacity: 0.5;
    cursor: default;
  }
  .filters {
    display: flex;
    gap: 8px;
    flex-wrap: wrap;
    padding: 4px 16px 8px;
  }
  select,
  input {
    font: inherit;
    padding: 4px 6px;
    border-radius: 6px;
    border: 1px solid var(--divider-color);
    background: var(--card-background-color);
    color: var(--primary-text-color);
  }
  .timeline {
    max-height: var(--hsi-timeline-height, 640px);
    overflow-y: auto;
    padding: 0 8px;
  }
  .day {
    position: sticky;
    top: 0;
    z-index: 1;
    padding: 6px 8px;
    font-weight: 500;
    font-size: 0.9em;
    background: var(--card-background-color, var(--ha-card-background));
    color: var(--secondary-text-color);
  }
  .event {
    display: flex;
    gap: 10px;
    padding: 6px 8px;
    border-left: 4px solid;
    margin: 2px 0 6px;
    cursor: pointer;
    border-radius: 4px;
  }
  .event:hover {
    background: var(--secondary-background-color);
  }
  .event img,
  .event .noimage {
    width: 96px;
    height: 72px;
    object-fit: cover;
    border-radius: 4px;
    flex: none;
    background: #000;
  }
  .event .text {
    min-width: 0;
    flex: 1;
  }
  .line {
    display: flex;
    gap: 6px;
    align-items: center;
    flex-wrap: wrap;
    font-size: 0.85em;
    color: var(--secondary-text-color);
  }
  .summary {
    margin-top: 2px;
    font-size: 0.95em;
    overflow: hidden;
    display: -webkit-box;
    -webkit-line-clamp: 2;
    -webkit-box-orient: vertical;
  }
  .reviewed {
    opacity: 0.65;
  }
  .status {
    padding: 12px 16px;
    color: var(--secondary-text-color);
  }
  .error {
    color: var(--error-color, #db4437);
  }
  .overlay {
    position: fixed;
    inset: 0;
    z-index: 10;
    background: rgba(0, 0, 0, 0.55);
    display: flex;
    align-items: center;
    justify-content: center;
  }
  .panel {
    background: var(--card-background-color, #fff);
    color: var(--primary-text-color);
    width: min(920px, 96vw);
    max-height: 92vh;
    overflow-y: auto;
    border-radius: 12px;
    padding: 12px 16px 16px;
    box-sizing: border-box;
  }
  .panel-header {
    display: flex;
    align-items: center;
    gap: 8px;
    margin-bottom: 8px;
  }
  .panel-header .title {
    flex: 1;
    font-size: 1.1em;
    font-weight: 500;
  }
  video {
    width: 100%;
    max-height: 50vh;
    background: #000;
    border-radius: 8px;
  }
  .detections {
    display: grid;
    grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
    gap: 8px;
    margin: 8px 0;
  }
  .detections figure {
    margin: 0;
    font-size: 0.8em;
    color: var(--secondary-text-color);
  }
  .detections img {
    width: 100%;
    border-radius: 6px;
    display: block;
    background: #000;
  }
  .field {
    margin: 6px 0;
  }
  .field .label {
    font-size: 0.8em;
    color: var(--secondary-text-color);
  }
  @media (max-width: 600px) {
    .overlay {
      align-items: stretch;
    }
    .panel {
      width: 100vw;
      max-height: 100vh;
      border-radius: 0;
    }
    .camera {
      flex-basis: 150px;
    }
    .event img,
    .event .noimage {
      width: 72px;
      height: 54px;
    }
  }
`;
